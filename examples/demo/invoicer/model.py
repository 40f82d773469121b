"""Invoice data model."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
import random


@dataclass(frozen=True)
class LineItem:
    description: str
    quantity: int
    unit_price: Decimal

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass
class Invoice:
    customer: str
    items: list[LineItem] = field(default_factory=list)
    # A planted low-severity bandit finding (B311: random is not for security purposes);
    # a display-only reference number, so it is acceptable here and stays below fail_on.
    reference: int = field(default_factory=lambda: random.randint(10_000, 99_999))

    def add(self, description: str, quantity: int, unit_price: str) -> None:
        self.items.append(LineItem(description, quantity, Decimal(unit_price)))

    @property
    def total(self) -> Decimal:
        return sum((item.total for item in self.items), Decimal("0"))
