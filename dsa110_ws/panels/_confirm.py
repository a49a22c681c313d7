"""ConfirmBar: an operator action's "Really ...?" line with Confirm (and Abort), hidden until
asked, so a panel's write happens only after a second, deliberate click."""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as widgets

__all__ = ["ConfirmBar"]


class ConfirmBar(widgets.HBox):
    """A question with a red Confirm button and, given ``on_abort``, an Abort button.

    Hidden until :meth:`ask`; either button hides it again before its callback runs (pass
    callbacks already wrapped by the panel's ``guard``).
    """

    def __init__(
        self, on_confirm: Callable[[], object], on_abort: Callable[[], object] | None = None
    ):
        self.text = widgets.HTML()
        self.confirm_button = widgets.Button(description="Confirm", button_style="danger")
        self.abort_button = widgets.Button(description="Abort")
        kids = [self.text, self.confirm_button] + ([self.abort_button] if on_abort else [])
        super().__init__(kids, layout=widgets.Layout(display="none"))
        self.confirm_button.on_click(lambda _: on_confirm())
        if on_abort is not None:
            self.abort_button.on_click(lambda _: on_abort())

    @property
    def shown(self) -> bool:
        return self.layout.display != "none"

    def ask(self, question: str) -> None:
        """Show ``question`` (plain text, escaped) with the buttons."""
        self.text.value = f"<b>{html.escape(question)}</b>"
        self.layout.display = "flex"

    def hide(self) -> None:
        self.layout.display = "none"
