"""invoicer: line items in, a printable invoice out."""

from invoicer.model import Invoice, LineItem

__all__ = ["Invoice", "LineItem"]
