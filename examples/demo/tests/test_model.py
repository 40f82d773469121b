from decimal import Decimal

from invoicer import Invoice


def test_total_adds_line_items():
    invoice = Invoice("ACME")
    invoice.add("widget", 3, "2.50")
    invoice.add("gadget", 1, "10.00")
    assert invoice.total == Decimal("17.50")
