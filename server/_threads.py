"""A user's conversations: GET /v1/threads, GET and DELETE /v1/threads/{thread_id}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from agent.threads import shown_as_json

from ._models import DeleteResponse, ErrorResponse, ThreadDetail, ThreadList
from ._service import ServiceDep, check_thread, check_user_id

router = APIRouter(tags=["threads"])

UserId = Annotated[
    str, Query(description="Whose conversations: only theirs are ever listed, read or deleted.")
]
_ERRORS = {
    400: {"model": ErrorResponse, "description": "A malformed user_id or thread id"},
    404: {"model": ErrorResponse, "description": "No such conversation for this user"},
}


@router.get(
    "/v1/threads",
    response_model=ThreadList,
    summary="List a user's conversations",
    responses={400: _ERRORS[400]},
)
async def list_threads(user_id: UserId, service: ServiceDep) -> ThreadList:
    """The user's conversations, the most recently used first (as ``termmate threads --json``
    lists the configured user's)."""
    check_user_id(user_id)
    threads = await service.companion.threads.list(user_id)
    return ThreadList.model_validate({"threads": [t.as_dict() for t in threads]})


@router.get(
    "/v1/threads/{thread_id}",
    response_model=ThreadDetail,
    response_model_exclude_none=True,
    summary="Read one conversation",
    responses=_ERRORS,
)
async def show_thread(thread_id: str, user_id: UserId, service: ServiceDep) -> ThreadDetail:
    """Every message of the conversation, exactly as ``termmate show --json`` prints it."""
    check_user_id(user_id)
    threads = service.companion.threads
    await check_thread(service, thread_id, user_id)
    info = await threads.get(thread_id, user_id=user_id)
    messages = await threads.messages(thread_id)
    title = info.title if info is not None else "(untitled)"  # its first turn is not saved yet
    return ThreadDetail.model_validate(shown_as_json(thread_id, title, messages))


@router.delete(
    "/v1/threads/{thread_id}",
    response_model=DeleteResponse,
    summary="Delete one conversation",
    responses={
        **_ERRORS,
        409: {"model": ErrorResponse, "description": "A reply is being written there"},
    },
)
async def delete_thread(thread_id: str, user_id: UserId, service: ServiceDep) -> DeleteResponse:
    """Delete the conversation's checkpoints and metadata. Memories learnt from it stay (they
    are the user's, not the conversation's)."""
    check_user_id(user_id)
    await check_thread(service, thread_id, user_id)
    if not await service.companion.delete_thread(thread_id):
        raise HTTPException(
            status_code=409,
            detail=f"a reply is being written in {thread_id!r}; stop it first "
            f"(POST /v1/threads/{thread_id}/stop) or wait for it to end",
        )
    return DeleteResponse(deleted=thread_id)
