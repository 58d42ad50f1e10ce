"""The demo campaign: the project's own prompts, responses, tasks, demonstrations and accounts,
and the rankings of a few simulated labelers (``simulated_campaign``).

``seed_demo`` is idempotent: a second run finds every row it would create and adds
nothing, and an existing account keeps its password unless ``reset_passwords`` asks for a
fresh one. The project, the roles and the prompts go through the same services as the API's
and the imports' (``projects``, ``roles``, ``PromptBook``), so the demo obeys the same rules.
"""

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction

from labeling import projects, roles
from labeling.assignment import demonstrations
from labeling.demo.content import HUMAN, PROMPTS
from labeling.demo.simulated_campaign import simulate_demo_labeling
from labeling.intake.prompts import DuplicatePrompt, PromptBook, PromptCapped
from labeling.intake.ranking_tasks import build_tasks
from labeling.intake.responses import get_or_create_response
from labeling.models import Prompt, Response

PROJECT_SLUG = "demo"
PROJECT_NAME = "Demo campaign"
DEMO_OVERLAP = 2
TASK_K_MIN, TASK_K_MAX = 4, 7
DEMO_WRITER = "demo-writer"

# (username, role in the demo project, user flags)
DEMO_ACCOUNTS = (
    ("admin", "admin", {"is_staff": True, "is_superuser": True}),
    ("labeler", "labeler", {}),
    ("labeler2", "labeler", {}),
    ("reviewer", "reviewer", {"is_staff": True}),
)

GUIDELINES = """\
# Demo campaign: labeling guidelines

You will see a prompt (sometimes a short conversation) and several candidate responses.
The prompts and responses in this campaign are demo data: the "models" are simulated.

## What a good response is
We want responses that are, in this order of priority when they conflict:

1. **Harmless**: it does not help anyone hurt themselves or others, is not abusive or
   demeaning, and does not give dangerous advice. Declining a genuinely harmful request is
   fine; refusing an ordinary one is not harmless, just unhelpful.
2. **Truthful**: it does not make things up. Invented facts, numbers, quotes or sources
   are serious mistakes, even when they sound confident. When the prompt gives a passage,
   the answer must come from that passage.
3. **Helpful**: it does what the person asked, in the form they asked for (length,
   format, tone, "don't use word X"), answers the question they meant, and asks for
   clarification only when the request is truly ambiguous. Lecturing, moralising or
   padding makes a response less helpful.

When helpfulness pulls against truthfulness or harmlessness, prefer the truthful and
harmless response. Otherwise, prefer the more helpful one.

## How to rank
- Read the prompt and every response before you start.
- Order the responses from best (rank 1) to worst.
- **Ties** are allowed: give two responses the same rank only when you honestly cannot
  prefer one to the other. Don't use ties to save time.
- If every response is unacceptable, say so with the "all unacceptable" option and
  still rank them from least to most bad.

## Ratings (Likert 1–7)
Rate each response on its own, 1 = terrible, 4 = acceptable, 7 = as good as it gets.
A response can rank last and still rate 5 if all the others are better.

## Flags
Tick every flag that applies to a response, for example: fails to follow the
instruction, hallucination (made-up facts), harmful advice, expresses an opinion or a
moral judgment the user did not ask for, sexual or violent content, content that
denigrates a protected group. "Satisfies constraint" means it respected an explicit
constraint in the prompt (length, format, words to avoid).

## Skipping
Skip a task when you cannot judge it (unfamiliar language, needs expertise you lack,
broken display) and write the reason. Skipping is better than guessing.

## Demonstrations
When asked to write the ideal response, write what you would want to receive:
accurate, complete, in the requested format, and no longer than needed.
"""


def _user(username, **flags):
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username)
    changed = [name for name, value in flags.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, flags[name])
    return user, created, changed


def _accounts(project, reset_passwords):
    passwords = {}
    for username, role, flags in DEMO_ACCOUNTS:
        user, created, changed = _user(username, is_active=True, **flags)
        if reset_passwords or created or not user.has_usable_password():
            password = secrets.token_urlsafe(9)
            user.set_password(password)
            user.save()
            passwords[username] = password
        else:
            if changed:
                user.save(update_fields=changed)
            passwords[username] = None
        roles.grant(user, project, role)
    return passwords


def _project():
    project, created = projects.get_or_create_project(
        PROJECT_SLUG, name=PROJECT_NAME, guidelines=GUIDELINES, overlap=DEMO_OVERLAP
    )
    if not created:
        changes = {}
        if project.overlap != DEMO_OVERLAP:
            changes["overlap"] = DEMO_OVERLAP
        if not project.guidelines:
            changes["guidelines"] = GUIDELINES
        projects.update_project(project, **changes)
    return project


def _prompt(book, project, entry):
    try:
        prompt, _ = book.get_or_create(
            entry.get("prompt", ""),
            entry.get("messages"),
            source_user=entry["source_user"],
            category=entry["category"],
            external_id=entry["id"],
            metadata={"demo": True, "simulated_responses": True},
        )
    except (DuplicatePrompt, PromptCapped):
        # An earlier seed whose prompt was edited since, or an imported look-alike.
        prompt = Prompt.objects.filter(project=project, external_id=entry["id"]).first()
    return prompt


def seed_demo(*, reset_passwords: bool = False) -> dict:
    """Create (or find) the demo campaign; return {username: password or None}.

    ``None`` means the password was left as it was: the account had one already, and
    ``reset_passwords`` was not asked for (re-running ``make demo`` keeps people's passwords).
    """
    with transaction.atomic():
        project = _project()
        passwords = _accounts(project, reset_passwords)
        reviewer = get_user_model().objects.get(username="reviewer")
        writer, created, _ = _user(DEMO_WRITER)
        if created:
            writer.is_active = False  # an author on record, not an account to log in with
            writer.set_unusable_password()
            writer.save()
        roles.grant(writer, project, "labeler")

        book = PromptBook(project)
        for number, entry in enumerate(PROMPTS):
            prompt = _prompt(book, project, entry)
            if prompt is None:
                continue
            for response in entry["responses"]:
                origin = Response.Origin.HUMAN if response["model"] == HUMAN else None
                get_or_create_response(
                    prompt,
                    response["text"],
                    model_name=response["model"],
                    origin=origin or Response.Origin.MODEL,
                )
            has_one = prompt.demonstrations.filter(author=writer).exists()
            if entry.get("demonstration") and not has_one:
                written = demonstrations.submit_demonstration(
                    prompt,
                    writer,
                    entry["demonstration"],
                    seconds_spent=120.0 + 15 * (number % 9),
                )
                demonstrations.review(
                    written, reviewer, accept=True, note="Demo data: accepted as written."
                )
        build_tasks(project, TASK_K_MIN, TASK_K_MAX, seed=0)
        # after the tasks: simulated labelers give a part of them their overlap, so the
        # dashboard has agreement to show from the first start
        simulate_demo_labeling(project)
    return passwords
