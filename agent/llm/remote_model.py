"""What every remote backend shares: a connection to one OpenAI-compatible server, the model's
name (asked of the server when the settings leave it unset), and the cheap probe the fallback
policy sends while the server is down."""

from __future__ import annotations

from config import EndpointSettings

from .errors import BadResponse
from .openai_http import OpenAIClient


class RemoteModel:
    """A model on ``[section] url`` (a fallback.RemoteBackend, less the calls of its kind)."""

    def __init__(
        self,
        settings: EndpointSettings,
        *,
        section: str,
        max_retries: int,
        client: OpenAIClient | None = None,
    ) -> None:
        self.settings = settings
        self.client = client or OpenAIClient(settings, section=section, max_retries=max_retries)
        self._model = settings.model
        self._section = section

    @property
    def url(self) -> str:
        """The server's base URL, fit to show (no credentials)."""
        return self.client.base_url

    @property
    def label(self) -> str:
        return self._model or "(server default)"

    async def resolve_model(self) -> str:
        """The model to ask for: ``[section] model``, else the first one the server lists."""
        if self._model is None:
            models = await self.client.list_models()
            if not models:
                setting = f"TERMMATE_{self._section.upper()}__MODEL"
                raise BadResponse(f"{self.url}/models lists no models; set {setting}")
            self._model = models[0]
        return self._model

    async def probe(self) -> None:
        """One cheap request (GET /v1/models, no retries) that raises when the server is down."""
        await self.client.list_models(retries=0)

    async def aclose(self) -> None:
        await self.client.aclose()
