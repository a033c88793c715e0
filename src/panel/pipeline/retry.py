"""From prompts to validated outputs: batched generation, validation, bounded retry.

Every request of a batch goes to the backend together. Each reply is checked by its
*contract* (engine error, ``finish_reason == "length"``, JSON and schema, cross-field
rules); a failed request is retried at once, while the rest of the batch still runs, with
a fresh seed derived from its key and attempt number, so a retry is reproducible and
independent of batch composition. After
``max_attempts`` a job is recorded as failed with the reason of each attempt.
A result the backend marks ``transient`` (the server, not the model, failed) is no attempt:
it is neither recorded nor retried here, only reported, so a re-run makes that job.

The loop is the same for every kind of job (a persona's review of one card, a persona's
head-to-head pick between two): a ``Contract`` says how to ask, how to check and what to
record, as instructor's response model does for one call.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from panel.backends.base import Backend, GenRequest, GenResult
from panel.config.settings import ReviewSettings
from panel.contract.bound import max_tokens_bound
from panel.contract.claims import unsupported_claims
from panel.contract.evidence import quote_texts
from panel.contract.expected import TOP_LOGPROBS, Expected, expected
from panel.contract.grammar import generation_grammar, generation_schema
from panel.contract.output import DEFAULT_LENGTHS, ReviewLengths, ReviewOutput, Rubric
from panel.contract.records import Attempt, ReviewRecord
from panel.errors import PanelError
from panel.pipeline.jobs import Job, request_seed

RAW_TEXT_KEEP = 2000

J = TypeVar("J", bound="Keyed")
R = TypeVar("R")
J_contra = TypeVar("J_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)


class Keyed(Protocol):
    """A job: anything with a content key (the store key of what it produces)."""

    @property
    def key(self) -> str: ...


class Contract(Protocol[J_contra, R_co]):
    """How to ask for one job's output, check a reply, and record the outcome."""

    def request(self, job: J_contra, attempt: int) -> GenRequest:
        """The request for this attempt (its seed from ``request_seed(job.key, attempt)``)."""
        ...

    def check(self, job: J_contra, result: GenResult) -> tuple[Any | None, str | None]:
        """The validated output of ``job``'s reply, or None and the reason it is rejected."""
        ...

    def record(self, job: J_contra, output: Any | None, reason: str | None,
               attempts: list[Attempt], backend: Backend) -> R_co:
        """What is stored: the output, or the failure with every attempt."""
        ...


def validate_reply(result: GenResult, model: type[BaseModel],
                   context: dict[str, Any] | None = None) -> tuple[Any | None, str | None]:
    """Engine error, length, then the pydantic model: the output or the first reason."""
    if result.error:
        return None, f"engine error: {result.error}"
    if result.finish_reason == "length":
        return None, f"hit max_tokens ({result.output_tokens} tokens) before the JSON closed"
    try:
        return model.model_validate_json(result.text, context=context), None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(map(str, err["loc"])) or "reply"
        return None, f"invalid {where}: {err['msg']}"


def check(result: GenResult, rubric: Rubric, lengths: ReviewLengths = DEFAULT_LENGTHS,
          quotes: Collection[str] | None = None) -> tuple[ReviewOutput | None, str | None]:
    """Validate one review reply; return the output or the reason it is rejected.

    Under vLLM, in process or served, a reply cannot hit ``max_tokens``: the grammar bounds
    it and ``_request`` makes sure ``max_tokens`` covers that bound. A backend may still
    ignore the grammar, so the length check stays, and so does the check that every quote
    is one of the card's ``quotes``."""
    return validate_reply(result, ReviewOutput,
                          {"rubric": rubric, "lengths": lengths, "quotes": quotes})


@dataclass(frozen=True)
class ReviewContract:
    """A persona's review of one card: the review grammar, ReviewOutput, ReviewRecord.

    A reply's quotes are checked against its own card's candidates: a backend that
    ignores the grammar, or a batch runner's results file, may hold any text there.
    """

    settings: ReviewSettings

    def request(self, job: Job, attempt: int) -> GenRequest:
        return _request(job, self.settings, attempt)

    def check(self, job: Job, result: GenResult) -> tuple[Scored | None, str | None]:
        s = self.settings
        # only the quotes: a window's replies come back after all its requests were built,
        # when the card's cached grammar is long evicted, and rebuilding it to read its
        # quotes doubled the pipeline's own time per review
        output, reason = check(result, s.rubric, s.lengths, quote_texts(job.card.description))
        if output is None:
            return None, reason
        tokens = result.logprobs
        return Scored(output, expected(tokens, s.rubric) if tokens else None), None

    def record(self, job: Job, output: Scored | None, reason: str | None,
               attempts: list[Attempt], backend: Backend) -> ReviewRecord:
        return _record(job, self.settings, output, reason, attempts, backend)


@dataclass(frozen=True)
class Scored:
    """A valid review and, when the backend gave log-probabilities, its expectations: they
    come from the reply's tokens, which only the check sees."""

    output: ReviewOutput
    expected: Expected | None


Unavailable = Callable[[Any, str], None]
"""Called with a job the server could not serve (transient failure) and the reason."""


def run_jobs(jobs: Sequence[Any], backend: Backend, settings: ReviewSettings,
             on_record: Callable[[Any], None] | None = None,
             on_unavailable: Unavailable | None = None,
             contract: Contract[Any, Any] | None = None) -> list[Any]:
    """Run jobs until each is valid or out of attempts; one record per job, except jobs
    the server could not serve: those get no record and go to ``on_unavailable``.
    ``contract`` defaults to a persona's review of a card.

    Every first attempt goes to the backend together; a reply that fails its check is
    retried at once, on the running backend (``Backend.stream``), rather than after the
    slowest reply of the batch, so a batch has no serial tail of retries.
    """
    unique = list({j.key: j for j in jobs}.values())
    run = _Stream(contract or ReviewContract(settings), settings.max_attempts, backend,
                  on_record, on_unavailable)
    if unique:
        backend.stream([run.ask(j, 0) for j in unique], run.settle)
    return [run.done[j.key] for j in jobs if j.key in run.done]


@dataclass
class _Stream(Generic[J, R]):
    """The jobs in flight: settle each result as it streams in, and ask again if needed.

    Each attempt's request id is the job's key and attempt number, unique among live
    requests (an engine refuses two live requests with one id), and maps a result back to
    its job. A job has one attempt in flight at a time, so its attempts stay in order.
    """

    contract: Contract[J, R]
    max_attempts: int
    backend: Backend
    on_record: Callable[[R], None] | None
    on_unavailable: Unavailable | None
    live: dict[str, tuple[J, int, int]] = field(default_factory=dict)
    """Request id -> (job, attempt, seed) of each request sent and not yet settled."""
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)
    done: dict[str, R] = field(default_factory=dict)

    def ask(self, job: J, attempt: int) -> GenRequest:
        """The request for this attempt, under an id of its own."""
        req = replace(self.contract.request(job, attempt), id=request_id(job.key, attempt))
        self.live[req.id] = (job, attempt, req.seed)
        return req

    def settle(self, res: GenResult) -> GenRequest | None:
        """Validate one result: store it, or return the job's next attempt."""
        entry = self.live.pop(res.id, None)
        if entry is None:  # not ours, or settled already
            return None
        job, attempt, seed = entry
        if res.transient:  # the server's failure, not the model's: no attempt, no record
            if self.on_unavailable:
                self.on_unavailable(job, res.error or "server unavailable")
            return None
        output, reason = self.contract.check(job, res)
        tried = self.attempts.setdefault(job.key, [])
        tried.append(make_attempt(res, seed, reason))
        if output is None and attempt < self.max_attempts - 1:
            return self.ask(job, attempt + 1)
        record = self.contract.record(job, output, reason, tried, self.backend)
        self.done[job.key] = record
        if self.on_record:
            self.on_record(record)
        return None


def request_id(key: str, attempt: int) -> str:
    """The backend request id of a job's attempt: unique among live requests."""
    return f"{key}#{attempt}"


def _request(job: Job, settings: ReviewSettings, attempt: int) -> GenRequest:
    """The review request; a PanelError if the grammar's longest reply could outrun
    ``max_tokens`` (the registry refuses such entries, so this is a last guard)."""
    s = settings.spec.sampling
    grammar, schema, bound, _ = card_constraints(settings.rubric, job.card.name,
                                                 job.card.description, settings.lengths)
    if bound > s.max_tokens:
        raise PanelError(f"model '{settings.spec.name}': max_tokens {s.max_tokens} is below "
                         f"{bound}, the longest reply the review grammar allows for "
                         f"'{job.card.name}'")
    return GenRequest(id=job.key, messages=job.messages, json_schema=schema,
                      grammar=grammar, seed=request_seed(job.key, attempt),
                      max_tokens=s.max_tokens,
                      temperature=s.temperature, top_p=s.top_p, top_k=s.top_k,
                      repetition_penalty=s.repetition_penalty, logprobs=TOP_LOGPROBS)


@lru_cache(maxsize=64)  # a window asks for a card's personas together; 64 bounds memory
def card_constraints(rubric: Rubric, name: str, description: str, lengths: ReviewLengths,
                     ) -> tuple[str, dict[str, Any], int, tuple[str, ...]]:
    """A card's review grammar, its JSON-schema twin, the grammar's longest reply in tokens
    and the quotes both enumerate (the card's sentences): the same for every persona and
    attempt of the card, so built once (building and bounding them was most of the
    pipeline's own time per request). Callers must not change the schema they get."""
    quotes = quote_texts(description)
    grammar = generation_grammar(rubric, name, lengths, quotes)
    return (grammar, generation_schema(rubric, name, lengths, quotes),
            max_tokens_bound(grammar), quotes)


def make_attempt(res: GenResult, seed: int, reason: str | None) -> Attempt:
    """What a record keeps of one try, however it was run (live, or a batch file's line)."""
    return Attempt(seed=seed, finish_reason=res.finish_reason, error=reason,
                   prompt_tokens=res.prompt_tokens, output_tokens=res.output_tokens,
                   cached_tokens=res.cached_tokens, seconds=round(res.seconds, 4),
                   text=res.text[:RAW_TEXT_KEEP])


def _record(job: Job, settings: ReviewSettings, scored: Scored | None, reason: str | None,
            attempts: list[Attempt], backend: Backend) -> ReviewRecord:
    exp = scored.expected if scored else None
    return ReviewRecord(
        key=job.key, tool=job.card.slug, tool_name=job.card.name, persona=job.persona.key,
        persona_name=job.persona.name, model=settings.spec.name, revision=settings.spec.revision,
        sample=job.sample, status="ok" if scored else "failed",
        output=scored.output if scored else None,
        expected_score=round(exp.score, 3) if exp else None,
        p_ship=round(exp.p_ship, 4) if exp else None,
        unsupported=unsupported_claims(scored.output.review, job.card) if scored else [],
        failure=None if scored else reason, attempts=list(attempts),
        provenance={**job.provenance, "versions": backend.versions()},
    )
