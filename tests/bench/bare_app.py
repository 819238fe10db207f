"""The cold-start baseline: a bare Textual app with the same first frame's kinds of widgets."""

from textual.app import App, ComposeResult
from textual.widgets import Footer, Input, Static


class BareApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("termmate")
        yield Input(placeholder="Say something… (Enter to send)")
        yield Footer()


if __name__ == "__main__":
    BareApp().run()
