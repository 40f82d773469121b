"""Render an invoice as a text table (needs the third-party tabulate package)."""

from __future__ import annotations

from tabulate import tabulate

from invoicer.model import Invoice


def render(invoice: Invoice) -> str:
    rows = [
        (item.description, item.quantity, f"{item.unit_price:.2f}", f"{item.total:.2f}")
        for item in invoice.items
    ]
    rows.append(("TOTAL", "", "", f"{invoice.total:.2f}"))
    return f"Invoice for {invoice.customer}\n" + tabulate(
        rows, headers=["item", "qty", "unit", "total"], tablefmt="simple", disable_numparse=True
    )
