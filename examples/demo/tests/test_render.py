# tabulate is not installed by default: pytest --kisys finds this import before collection,
# vets tabulate (it is on the default whitelist) and installs it in one batch.
import tabulate

from invoicer import Invoice
from invoicer.render import render


def test_render_has_a_total_row():
    invoice = Invoice("ACME")
    invoice.add("widget", 2, "1.25")
    text = render(invoice)
    assert "TOTAL" in text and "2.50" in text
    assert tabulate.__name__ == "tabulate"
