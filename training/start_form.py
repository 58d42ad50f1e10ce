"""The training console's "start a job" form: what it shows and what it sends.

The form only renders and carries strings: every value goes, as the API would receive it,
through the API's serializers and then ``training.job_requests`` (``start_views``), so the web
and the API accept and refuse the same jobs. Its one parsing of its own is the config's JSON
text, which an API client sends already parsed.

The config box is filled with the defaults of the chosen kind and size: the size preset's
values (``training.presets``) over the engine's config dataclass defaults, less the keys the
platform fills from checkpoints and the job's folder (a job naming those is refused).
"""

import dataclasses
import json
from pathlib import Path

from django import forms
from django.conf import settings

from pipelines.service import MAX_ROUNDS
from training import jobs, presets
from training.models import Checkpoint

PIPELINE = "pipeline"
KINDS = (*jobs.KINDS, PIPELINE)
KIND_LABELS = {
    "sft": "SFT: fine-tune on demonstrations",
    "rm": "RM: reward model on rankings",
    "ppo": "PPO: optimise a policy against a reward model",
    "generate": "generate: sample responses for ranking tasks",
    "dpo": "DPO: optimise a policy on the rankings directly (no reward model)",
    "evaluate": "evaluate: a policy against its baseline",
    "best_of_n": "best-of-n: keep a reward model's best of n samples as demonstrations",
    PIPELINE: "pipeline: the whole loop (SFT → generate → rank → RM → PPO → evaluate)",
}
# the kinds whose form offers a reward model (generate: only its rm_* selections use one)
REWARD_KINDS = ("ppo", "evaluate", "generate", "best_of_n")
# filled by the platform from the checkpoints and the job folder, so not offered in the box
PLATFORM_KEYS = {
    "model", "policy", "output_dir", "reward_model", "parent_model", "second_reward_model",
    "gold_reward_model",
}  # fmt: skip
# The platform's PPO default is plain PPO (jobs._check_ptx), not the engine's 27.8, which
# would need a pretraining corpus the form does not offer.
PLATFORM_DEFAULTS = {"ppo": {"ptx_coef": 0.0}}
# From this many parameters the trainers that can (SFT, RM, DPO) default to LoRA adapters:
# full fine-tuning with Adam keeps ~16 bytes a parameter, beyond one GPU's memory at 7B.
LORA_FROM_PARAMS = 1_000_000_000
CHECKPOINT_CHOICES_LIMIT = 200


def engine_defaults(kind: str) -> dict:
    """The engine's config dataclass defaults for ``kind``, less the platform's keys."""
    from training.engine.registry import config_class

    defaults = {}
    for field in dataclasses.fields(config_class(kind)):
        if not field.init or field.name in PLATFORM_KEYS or field.name.endswith("_file"):
            continue
        if field.default is not dataclasses.MISSING:
            defaults[field.name] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            defaults[field.name] = field.default_factory()
    return json.loads(json.dumps(defaults, default=list))  # tuples as JSON lists


def default_config(kind: str, preset: str, *, lora: bool = False) -> dict:
    """What the config box starts with for ``kind`` and size ``preset`` (``lora``: a large
    model's trainers train adapters)."""
    if kind == PIPELINE:
        return {"preset": preset}  # the pipeline sizes each stage itself (pipelines.service)
    config = engine_defaults(kind) | PLATFORM_DEFAULTS.get(kind, {})
    if lora and "lora" in config:
        config["lora"] = True
    return config | presets.sized(preset, kind)


def parameter_count(folder: Path) -> int | None:
    """Roughly a transformer's parameters from its config.json: the embeddings (vocab ×
    hidden) plus 12 × hidden² per layer (attention 4 h², MLP 8 h²); None when there is no
    readable config.json (a hub id, a built-in name)."""
    try:
        config = json.loads((folder / "config.json").read_text())
        hidden = int(config.get("hidden_size") or config["n_embd"])
        layers = int(config.get("num_hidden_layers") or config["n_layer"])
        vocab = int(config["vocab_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return vocab * hidden + 12 * layers * hidden * hidden


def model_parameters(checkpoint: Checkpoint | None) -> int | None:
    """``parameter_count`` of the checkpoint's folder (None: the platform's base model)."""
    path = checkpoint.path if checkpoint else settings.PREFLAB_BASE_MODEL
    return parameter_count(Path(path)) if path and Path(path).is_dir() else None


def wants_lora(checkpoint: Checkpoint | None) -> bool:
    params = model_parameters(checkpoint)
    return params is not None and params >= LORA_FROM_PARAMS


def picked_size(checkpoint: Checkpoint | None) -> tuple[str, str]:
    """The default size for a job starting from ``checkpoint`` (None: the platform's base
    model), and why, as the form says it. The machine decides the size: on a CPU even the
    tiny test model's full PPO (100 steps of 256-token samples) takes most of an hour, and the
    quick one minutes. The model's size decides LoRA (``wants_lora``)."""
    params = model_parameters(checkpoint)
    machine = presets.default_preset()
    where = "a GPU" if machine == presets.FULL else "no GPU"
    if params is None:
        return machine, f"the model's size is not readable here; {machine} on a host with {where}"
    why = f"~{params / 1e6:,.1f} M parameters on a host with {where}: {machine}"
    if params >= LORA_FROM_PARAMS:
        why += ", and LoRA adapters for SFT, RM and DPO"
    return machine, why


def checkpoint_choices(kinds, blank: str) -> list[tuple[str, str]]:
    """A select's options: ``blank`` first, then the newest checkpoints of ``kinds``
    (checkpoints are the platform's, as the API's base_checkpoint field takes any)."""
    rows = Checkpoint.objects.filter(kind__in=kinds).order_by("-id")[:CHECKPOINT_CHOICES_LIMIT]
    return [("", blank)] + [(str(c.pk), f"{c.kind} {c.pk} · {c.name}") for c in rows]


def _select(choices, label, help_text="", refresh_url=None):
    attrs = {}
    if refresh_url:  # a new kind, size or model re-renders the fields with its defaults
        # (htmx: a select's request is sent on change; target, swap and the values sent are
        # the fields' container's, _job_start_fields.html)
        attrs = {"data-refresh": "1", "hx-get": refresh_url}
    return forms.CharField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.Select(choices=choices, attrs=attrs),
    )


class JobStartForm(forms.Form):
    """The fields of one kind (``kind``; an unknown one shows SFT's); only strings, except
    ``config``, parsed from its JSON text. ``refresh_url``: where a new kind, model or size
    fetches the fields again."""

    def __init__(self, kind: str, *args, refresh_url: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind if kind in KINDS else "sft"
        fields = self.fields
        fields["kind"] = _select(list(KIND_LABELS.items()), "Kind", refresh_url=refresh_url)
        base_kinds = jobs.BASE_KINDS["sft" if self.kind == PIPELINE else self.kind]
        blank = f"the platform's base model ({settings.PREFLAB_BASE_MODEL})"
        if self.kind == "evaluate":
            blank = "choose the policy to evaluate"
        fields["base_checkpoint"] = _select(
            checkpoint_choices(base_kinds, blank),
            "Start from" if self.kind != "evaluate" else "Policy to evaluate",
            f"a {' / '.join(base_kinds)} checkpoint",
            refresh_url=refresh_url,
        )
        if self.kind in REWARD_KINDS:
            fields["reward_checkpoint"] = _select(
                checkpoint_choices(["rm"], "none"),
                "Reward model",
                "generate: only for the rm_spread and rm_disagreement selections"
                if self.kind == "generate"
                else "an rm checkpoint (required)",
            )
        if self.kind == "evaluate":
            fields["baseline_checkpoint"] = _select(
                checkpoint_choices(("base", "sft", "policy"), "the policy's parent"),
                "Baseline",
                "what the policy is compared with",
            )
        if self.kind == PIPELINE:
            fields["labelers"] = _select(
                [("simulated", "simulated labelers"), ("human", "human labelers")],
                "Labelers",
                "who ranks each round's samples",
            )
            fields["rounds"] = forms.CharField(
                label="Rounds",
                required=False,
                help_text=f"generate → rank → RM → PPO → evaluate, 1 to {MAX_ROUNDS}",
                widget=forms.NumberInput(attrs={"min": 1, "max": MAX_ROUNDS}),
            )
        fields["size"] = _select(
            [("", "automatic, from the model's size"), *[(n, n) for n in presets.NAMES]],
            "Size",
            "quick: small samples and few PPO steps (a CPU); full: the engine's defaults",
            refresh_url=refresh_url,
        )
        fields["config"] = forms.CharField(
            label="Config (JSON)",
            required=False,
            help_text="the engine's settings; a value here wins over the size's",
            widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false", "class": "mono"}),
        )

    def clean_config(self):
        text = self.cleaned_data["config"].strip()
        if not text:
            return {}
        try:
            return json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc}") from exc

    def request_data(self, project) -> dict:
        """What the API would be sent: TrainingJobSerializer's or PipelineCreateSerializer's
        fields (blank selects left out, so they take the API's defaults)."""
        given = {k: v for k, v in self.cleaned_data.items() if v not in ("", None)}
        config = self.cleaned_data.get("config")
        data = {"project": project.slug}
        if self.kind == PIPELINE:
            data |= {k: given[k] for k in ("labelers", "rounds") if k in given}
            if "base_checkpoint" in given:
                data["base"] = given["base_checkpoint"]
        else:
            data["kind"] = self.cleaned_data.get("kind") or self.kind
            data |= {k: given[k] for k in ("base_checkpoint", "reward_checkpoint") if k in given}
            if "baseline_checkpoint" in given and isinstance(config, dict):
                # the engine takes it in the config, as `train evaluate --baseline` sends it
                baseline = given["baseline_checkpoint"]
                baseline = int(baseline) if baseline.isdigit() else baseline
                config = config | {"baseline_checkpoint": baseline}
        data["config"] = config
        return data

    def add_refusal(self, field: str, message: str) -> None:
        """A serializer's or service's refusal, next to the field it names: a form field, or
        the config box for a key of the config, or the top of the form."""
        field = {"base": "base_checkpoint"}.get(field, field)
        config = self.cleaned_data.get("config")
        if field in self.fields:
            self.add_error(field, message)
        elif (isinstance(config, dict) and field in config) or field in jobs.JOB_KEYS:
            self.add_error("config", f"{field}: {message}")
        else:
            self.add_error(None, f"{field}: {message}" if field != "non_field_errors" else message)
