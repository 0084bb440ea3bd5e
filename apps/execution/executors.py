"""Executors: what running a task means, keyed by `TaskType.executor`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .models import AIModel, ExecutionTask


class ExecutorError(Exception):
    """The task cannot run as given (bad payload, missing API key); retrying will not help."""


@dataclass(frozen=True)
class ExecutorOutput:
    result: Any
    input_tokens: int | None = None
    output_tokens: int | None = None


def run_echo(task: ExecutionTask) -> ExecutorOutput:
    """Return the payload: for demos, tests and benchmarks."""
    return ExecutorOutput(result={"echo": task.payload}, input_tokens=0, output_tokens=0)


def _chat_messages(payload: dict) -> list[dict]:
    if isinstance(payload.get("messages"), list) and payload["messages"]:
        return payload["messages"]
    prompt = payload.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ExecutorError("payload needs a non-empty 'prompt' (or a 'messages' list)")
    return [{"role": "user", "content": prompt}]


def _endpoint_check(model: AIModel) -> None:
    """Refuse before any byte or key leaves: a key variable or host the settings no longer allow (a row saved
    before they tightened), or an endpoint set or changed since a reviewer last approved it."""
    problems = model.endpoint_problems()
    if problems:
        raise ExecutorError(f"AI model {model.name} is refused: " + " ".join(problems.values()))
    if not model.endpoint_approved:
        raise ExecutorError(
            f"the endpoint of AI model {model.name} is new or changed and awaits approval "
            "(AI models > Approve endpoint); retry the task once it is approved"
        )


def _api_key(task: ExecutionTask) -> str:
    variable = task.ai_model.api_key_env
    if not variable:
        return "not-needed"  # local OpenAI-compatible servers often take no key
    key = os.environ.get(variable)
    if not key:
        raise ExecutorError(f"environment variable {variable} (API key of {task.ai_model.name}) is not set")
    return key


def run_openai_compatible(task: ExecutionTask) -> ExecutorOutput:
    """Send the task's prompt as a chat completion to the AI model's endpoint, as `model=<ai_model>`."""
    from openai import OpenAI

    if not task.ai_model.base_url:
        raise ExecutorError(f"AI model {task.ai_model.name} has no endpoint base URL")
    _endpoint_check(task.ai_model)
    client = OpenAI(
        base_url=task.ai_model.base_url,
        api_key=_api_key(task),
        timeout=float(task.task_type.timeout_seconds),
        max_retries=0,  # retries are the task's, with backoff and events
        http_client=_http_client(),
    )
    completion = client.chat.completions.create(model=task.ai_model_id, messages=_chat_messages(task.payload))
    choice = completion.choices[0]
    usage = completion.usage
    return ExecutorOutput(
        result={"reply": choice.message.content, "finish_reason": choice.finish_reason, "completion_id": completion.id},
        input_tokens=usage.prompt_tokens if usage else None,
        output_tokens=usage.completion_tokens if usage else None,
    )


EXECUTORS: dict[str, Callable[[ExecutionTask], ExecutorOutput]] = {
    "echo": run_echo,
    "openai_compatible": run_openai_compatible,
}


def executor_run(task: ExecutionTask) -> ExecutorOutput:
    """The model decides before the task type: an echo model has no endpoint to call, so it answers any type's
    tasks itself (a fresh install's task types all name the OpenAI-compatible executor)."""
    if task.ai_model.provider == AIModel.Provider.ECHO:
        return run_echo(task)
    try:
        executor = EXECUTORS[task.task_type.executor]
    except KeyError:
        raise ExecutorError(f"no executor named {task.task_type.executor!r}") from None
    return executor(task)


_shared_http_client = None


def _http_client():
    """This process's HTTP client for model endpoints. Building one sets up TLS (about 18 ms of CPU, more than
    the engine's own cost per task); the worker builds it before it forks, and every work horse inherits it
    with no connection open yet (the worker itself never calls a model)."""
    global _shared_http_client
    if _shared_http_client is None:
        from openai import DefaultHttpxClient

        _shared_http_client = DefaultHttpxClient()
    return _shared_http_client


def executors_preload() -> None:
    """Get the executors' client libraries ready in the worker before it forks, so that each job's work horse
    inherits them ready: imported (`openai` takes about 0.9 s), its HTTP client built, and one chat completion
    made against a canned reply, never the network (the first call in a process builds the library's request
    and response machinery: about 25 ms per task in every fresh horse otherwise)."""
    import httpx2
    from openai import DefaultHttpxClient, OpenAI

    _http_client()
    canned = json.dumps({
        "id": "warm-up", "object": "chat.completion", "created": 0, "model": "warm-up",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }).encode()  # fmt: skip
    offline = httpx2.MockTransport(lambda request: httpx2.Response(200, content=canned, headers=JSON_HEADERS))
    offline_client = DefaultHttpxClient(transport=offline)
    client = OpenAI(base_url="http://warm-up.invalid/v1", api_key="-", http_client=offline_client)
    client.chat.completions.create(model="warm-up", messages=[{"role": "user", "content": "warm-up"}])


JSON_HEADERS = {"content-type": "application/json"}
