"""The gateway at its edge: wire requests → `TextCall`, results → OpenAI / Anthropic shapes, and the
two server-sent-event dialects of a stream.

A failure in the middle of a stream (the status line has gone) is sent as the dialect's error event;
one before the first byte is an ordinary JSON error, raised by `GatewayService.stream`.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator

import numpy as np

from kb_service.errors import KBError
from kb_service.gateway.providers.base import ChatMessage, StopReason, StreamEnd
from kb_service.gateway.service import Completion, EmbeddingsResult, EnabledModel, MeteredStream, TextCall
from schemas.gateway import (
    DEFAULT_MAX_TOKENS,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatUsage,
    Choice,
    ChunkChoice,
    ChunkDelta,
    EmbeddingOut,
    EmbeddingsResponse,
    EmbeddingsUsage,
    FinishReason,
    MessageOut,
    MessagesRequest,
    MessagesUsage,
    ModelList,
    ModelOut,
    TextBlock,
    TextPart,
)

_FINISH: dict[StopReason, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
}


def _text(content: str | list[TextPart]) -> str:
    return content if isinstance(content, str) else "".join(part.text for part in content)


def _id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


# --- requests -----------------------------------------------------------------------------------


def chat_call(body: ChatCompletionRequest) -> TextCall:
    messages = tuple(
        ChatMessage("system" if m.role == "developer" else m.role, _text(m.content)) for m in body.messages
    )
    stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
    return TextCall(
        model=body.model,
        messages=messages,
        max_tokens=body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_TOKENS,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=stop,
    )


def messages_call(body: MessagesRequest) -> TextCall:
    system = () if body.system is None else (ChatMessage("system", _text(body.system)),)
    return TextCall(
        model=body.model,
        messages=system + tuple(ChatMessage(m.role, _text(m.content)) for m in body.messages),
        max_tokens=body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=tuple(body.stop_sequences or ()),
    )


def include_usage(body: ChatCompletionRequest) -> bool:
    """A stream ends with a usage chunk unless the client opted out."""
    return body.stream_options is None or body.stream_options.include_usage


# --- responses ----------------------------------------------------------------------------------


def models_out(models: list[EnabledModel]) -> ModelList:
    return ModelList(
        data=[
            ModelOut(
                id=m.spec.id, owned_by=m.spec.provider, display_name=m.spec.display_name, default=m.is_default
            )
            for m in models
        ]
    )


def embeddings_out(result: EmbeddingsResult, encoding_format: str) -> EmbeddingsResponse:
    def encoded(row: np.ndarray) -> list[float] | str:
        if encoding_format == "base64":
            return base64.b64encode(row.astype("<f4").tobytes()).decode("ascii")
        return [float(x) for x in row]

    return EmbeddingsResponse(
        data=[EmbeddingOut(index=i, embedding=encoded(row)) for i, row in enumerate(result.vectors)],
        model=result.model_id,
        usage=EmbeddingsUsage(
            prompt_tokens=result.input_tokens,
            total_tokens=result.input_tokens,
            genai_units=result.genai_units,
        ),
    )


def _chat_usage(input_tokens: int, output_tokens: int, units: float | None) -> ChatUsage:
    return ChatUsage(
        prompt_tokens=input_tokens,
        completion_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
        genai_units=units,
    )


def chat_completion_out(completion: Completion) -> ChatCompletion:
    usage = completion.usage
    return ChatCompletion(
        id=_id("chatcmpl-"),
        created=int(time.time()),
        model=completion.model_id,
        choices=[
            Choice(
                message=AssistantMessage(content=completion.text),
                finish_reason=_FINISH[completion.stop_reason],
            )
        ],
        usage=_chat_usage(usage.input_tokens, usage.output_tokens, completion.genai_units),
    )


def message_out(completion: Completion) -> MessageOut:
    return MessageOut(
        id=_id("msg_"),
        model=completion.model_id,
        content=[TextBlock(text=completion.text)],
        stop_reason=completion.stop_reason,
        usage=MessagesUsage(
            input_tokens=completion.usage.input_tokens, output_tokens=completion.usage.output_tokens
        ),
    )


# --- streams ------------------------------------------------------------------------------------


def _error_body(exc: KBError) -> dict[str, object]:
    return {"code": exc.code, "message": exc.message, "details": exc.details}


def chat_chunks(stream: MeteredStream, with_usage: bool) -> Iterator[str]:
    """OpenAI's dialect: `data: <chunk>` lines, the usage chunk (choices empty), `data: [DONE]`."""
    chunk_id, created, model = _id("chatcmpl-"), int(time.time()), stream.model_id

    def chunk(choices: list[ChunkChoice], usage: ChatUsage | None = None) -> str:
        body = ChatCompletionChunk(id=chunk_id, created=created, model=model, choices=choices, usage=usage)
        return f"data: {body.model_dump_json()}\n\n"

    try:
        yield chunk([ChunkChoice(delta=ChunkDelta(role="assistant", content=""))])
        for event in stream:
            if isinstance(event, StreamEnd):
                yield chunk([ChunkChoice(delta=ChunkDelta(), finish_reason=_FINISH[event.stop_reason])])
                if with_usage:
                    usage = event.usage
                    yield chunk([], _chat_usage(usage.input_tokens, usage.output_tokens, stream.genai_units))
            else:
                yield chunk([ChunkChoice(delta=ChunkDelta(content=event.text))])
    except KBError as exc:
        yield f"data: {json.dumps({'error': _error_body(exc)})}\n\n"
        return
    finally:
        stream.close()  # a client that went away: meters what the provider reported
    yield "data: [DONE]\n\n"


def _event(kind: str, data: dict[str, object]) -> str:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"


def message_events(stream: MeteredStream) -> Iterator[str]:
    """Anthropic's dialect. Input tokens are known only at the end for some providers, so they come
    in `message_delta`'s usage (as the Messages API allows) and `message_start` says 0."""
    message: dict[str, object] = {
        "id": _id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": stream.model_id,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }
    try:
        yield _event("message_start", {"message": message})
        yield _event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        for event in stream:
            if isinstance(event, StreamEnd):
                yield _event("content_block_stop", {"index": 0})
                usage = {"input_tokens": event.usage.input_tokens, "output_tokens": event.usage.output_tokens}
                delta = {"stop_reason": event.stop_reason, "stop_sequence": None}
                yield _event("message_delta", {"delta": delta, "usage": usage})
                yield _event("message_stop", {})
            else:
                yield _event(
                    "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": event.text}}
                )
    except KBError as exc:
        kind = "overloaded_error" if exc.status_code in (429, 502, 503) else "api_error"
        yield _event("error", {"error": {"type": kind, "message": exc.message}})
    finally:
        stream.close()
