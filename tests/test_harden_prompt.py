"""Issue 15 item 13: keys typed before the prompt appears are not consent."""

from __future__ import annotations

import os

from pytest_kisys.install.consent import TerminalConsent
from tests.test_install_units import REQUEST


def test_keys_typed_before_the_prompt_do_not_count_as_consent() -> None:
    controller, terminal = os.openpty()
    try:
        os.write(controller, b"y\n")  # typed ahead, before kisys asked anything
        with os.fdopen(terminal, "r", closefd=False) as stdin:
            answer = TerminalConsent(
                environ={}, terminal=True, stdin=stdin, timeout=0.5, write=lambda _: None
            ).ask(REQUEST)
        assert answer.answer == "no"
        assert "no answer within" in answer.why
    finally:
        os.close(controller)
        os.close(terminal)


def test_an_answer_typed_after_the_prompt_still_counts() -> None:
    controller, terminal = os.openpty()
    shown: list[str] = []

    def write(text: str) -> None:
        shown.append(text)
        if text.startswith("Install these packages?"):
            os.write(controller, b"y\n")  # typed once the question is on screen

    try:
        with os.fdopen(terminal, "r", closefd=False) as stdin:
            answer = TerminalConsent(
                environ={}, terminal=True, stdin=stdin, timeout=5, write=write
            ).ask(REQUEST)
        assert answer.yes
    finally:
        os.close(controller)
        os.close(terminal)
