"""Wire contracts of the model gateway: OpenAI's shapes (`/v1/models`, `/v1/embeddings`,
`/v1/chat/completions`) and Anthropic's Messages API (`/v1/messages`), so the official clients work
with `base_url` pointed here.

Requests ignore fields they do not know (clients and the libraries built on them send options such as
`user` or `n`); responses add our own fields (`display_name`, `genai_units`) as extensions, which the
official clients keep as extra attributes.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas._base import Schema

DEFAULT_MAX_TOKENS = 1024


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --- models -------------------------------------------------------------------------------------


class ModelOut(Schema):
    id: str = Field(description="The catalog's model id; pass it as `model`.")
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str
    display_name: str = Field(description="Extension: the name the portal shows.")
    default: bool = Field(description="Extension: the model used when a call names none.")


class ModelList(Schema):
    object: Literal["list"] = "list"
    data: list[ModelOut]


# --- embeddings ---------------------------------------------------------------------------------


class EmbeddingsRequest(Request):
    input: str | Annotated[list[str], Field(min_length=1)] = Field(
        description="A text or a list of texts (at most 2048); token arrays are not accepted."
    )
    model: str | None = Field(default=None, description="Absent: the resource's model.")
    encoding_format: Literal["float", "base64"] = "float"
    input_type: Literal["search_document", "search_query"] = Field(
        default="search_document",
        description="Extension (Cohere's): `search_query` for queries, `search_document` for what is "
        "searched.",
    )


class EmbeddingOut(Schema):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="Floats, or base64 of little-endian float32.")


class EmbeddingsUsage(Schema):
    prompt_tokens: int = Field(description="The tokens the provider billed.")
    total_tokens: int
    genai_units: float = Field(description="Extension: GU metered for this call.")


class EmbeddingsResponse(Schema):
    object: Literal["list"] = "list"
    data: list[EmbeddingOut]
    model: str
    usage: EmbeddingsUsage


# --- chat completions ---------------------------------------------------------------------------


class TextPart(Request):
    type: Literal["text"]
    text: str


class ChatMessageIn(Request):
    # "developer" is OpenAI's newer name for "system".
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]


class StreamOptions(Request):
    include_usage: bool = True


class ChatCompletionRequest(Request):
    model: str | None = Field(default=None, description="Absent: the resource's default model.")
    messages: Annotated[list[ChatMessageIn], Field(min_length=1)]
    max_tokens: int | None = Field(default=None, strict=True, ge=1)
    max_completion_tokens: int | None = Field(
        default=None, strict=True, ge=1, description="Wins over `max_tokens`."
    )
    temperature: float | None = Field(default=None, strict=True, ge=0, le=2)
    top_p: float | None = Field(default=None, strict=True, ge=0, le=1)
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = Field(
        default=None, description="A stream ends with a usage chunk unless `include_usage` is false."
    )


class AssistantMessage(Schema):
    role: Literal["assistant"] = "assistant"
    content: str


FinishReason = Literal["stop", "length"]


class Choice(Schema):
    index: int = 0
    message: AssistantMessage
    finish_reason: FinishReason
    logprobs: None = None


class ChatUsage(Schema):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    genai_units: float | None = Field(default=None, description="Extension: GU metered for this call.")


class ChatCompletion(Schema):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: ChatUsage


class ChunkDelta(Schema):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(Schema):
    index: int = 0
    delta: ChunkDelta
    finish_reason: FinishReason | None = None
    logprobs: None = None


class ChatCompletionChunk(Schema):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: ChatUsage | None = None


# --- Anthropic Messages API ---------------------------------------------------------------------


class AnthropicMessageIn(Request):
    role: Literal["user", "assistant"]
    content: str | list[TextPart]


class MessagesRequest(Request):
    model: str | None = Field(default=None, description="Absent (an extension): the default model.")
    max_tokens: int = Field(default=DEFAULT_MAX_TOKENS, strict=True, ge=1)
    messages: Annotated[list[AnthropicMessageIn], Field(min_length=1)]
    system: str | list[TextPart] | None = None
    temperature: float | None = Field(default=None, strict=True, ge=0, le=1)
    top_p: float | None = Field(default=None, strict=True, ge=0, le=1)
    stop_sequences: list[str] | None = None
    stream: bool = False


class TextBlock(Schema):
    type: Literal["text"] = "text"
    text: str


class MessagesUsage(Schema):
    input_tokens: int
    output_tokens: int


AnthropicStopReason = Literal["end_turn", "max_tokens", "stop_sequence"]


class MessageOut(Schema):
    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[TextBlock]
    stop_reason: AnthropicStopReason | None
    stop_sequence: str | None = None
    usage: MessagesUsage
