"""``shelfwise experiments``: start, read and stop A/B tests of the recommender.

A test is kept in the MLflow registry beside the versions it compares (registered-model tags,
:data:`features.experiments.ab.RUNNING_TAG`), so every replica of the service reads the same
test from the registry it already polls, and the record stays after the test stops. Starting
or stopping one sends the live store's reload signal: a running service loads or drops the
challenger within a second. The statistics are :mod:`features.experiments.ab`'s.
"""

from __future__ import annotations

import json
import re
import time

import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from features.experiments import ab
from features.experiments.attribution import attribute
from features.live.store import RELOAD_SIGNAL, LiveStore
from training import registry

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
DEFAULT_BASELINE = 0.02  # conversion per exposure assumed when the shop has no history of its own
BASELINE_MIN_EXPOSURES = 1000
BASELINE_DAYS = 30


def _tags(client: MlflowClient, family: str) -> dict[str, str]:
    return client.get_registered_model(registry.MODEL_NAMES[family]).tags


def running(client: MlflowClient, family: str = "recs") -> ab.Experiment | None:
    tags = _tags(client, family)
    name = tags.get(ab.RUNNING_TAG)
    return load(client, name, family) if name else None


def load(client: MlflowClient, name: str, family: str = "recs") -> ab.Experiment:
    tags = _tags(client, family)
    if ab.TAG_PREFIX + name not in tags:
        known = sorted(k.removeprefix(ab.TAG_PREFIX) for k in tags if k.startswith(ab.TAG_PREFIX))
        hint = f"; there are {', '.join(known)}" if known else "; start one: `shelfwise experiments start`"
        raise ValueError(f"no experiment named {name!r}{hint}")
    return ab.Experiment.from_dict(json.loads(tags[ab.TAG_PREFIX + name]))


def _save(client: MlflowClient, experiment: ab.Experiment) -> None:
    client.set_registered_model_tag(registry.MODEL_NAMES[experiment.family], ab.TAG_PREFIX + experiment.name,
                                    json.dumps(experiment.to_dict()))


def baseline_conversion(store: LiveStore, now: float) -> tuple[float, str]:
    """The champion's conversion per exposure over the last :data:`BASELINE_DAYS` days of the
    recommender's answers, and where it came from; :data:`DEFAULT_BASELINE` when the shop has
    too few exposures or no conversion yet."""
    exposures = store.exposures_frame(since=now - BASELINE_DAYS * 86400)
    exposures = exposures[exposures["endpoint"].isin(ab.RECS_ENDPOINTS) & (exposures["status"] == 200)]
    if len(exposures) >= BASELINE_MIN_EXPOSURES:
        credited = attribute(exposures, store.events_frame(recommendation_ids=True))
        converted = credited.loc[credited["event_type"] == "purchase", "recommendation_id"].nunique()
        if converted:
            return converted / len(exposures), (f"measured: {converted:,} of {len(exposures):,} exposures "
                                                f"in the last {BASELINE_DAYS} days converted")
    return DEFAULT_BASELINE, (f"assumed: fewer than {BASELINE_MIN_EXPOSURES:,} exposures with a conversion "
                              f"in the last {BASELINE_DAYS} days (give --baseline to set it)")


def start(client: MlflowClient, store: LiveStore, name: str, family: str, challenger: str, share: float,
          mde: float = 0.1, alpha: float = 0.05, power: float = 0.8, baseline: float | None = None,
          now: float | None = None) -> tuple[ab.Experiment, str]:
    """Start a test: ``share`` of shoppers get ``challenger``, the rest the champion. Returns
    the test and where its baseline conversion came from."""
    if family != "recs":
        raise ValueError(f"--family {family}: A/B tests split the recommender's answers (--family recs); "
                         "churn and CLTV scores are not shown to shoppers (judge offer policies with "
                         "`shelfwise offers evaluate`)")
    if not NAME.match(name):
        raise ValueError(f"experiment name {name!r}: use up to 40 lower-case letters, digits, '-' or '_'")
    if not 0 < share < 1:
        raise ValueError(f"--share {share}: give the challenger's share of shoppers, between 0 and 1 "
                         "(e.g. 0.2)")
    model = registry.MODEL_NAMES[family]
    try:
        champion = str(client.get_model_version_by_alias(model, registry.CHAMPION).version)
    except MlflowException:
        raise ValueError(f"{model} has no champion to test against; run `shelfwise train recs` "
                         "first") from None
    try:
        client.get_model_version(model, challenger)
    except MlflowException:
        raise ValueError(f"{model} has no version {challenger} (see `shelfwise models list`)") from None
    if challenger == champion:
        raise ValueError(f"{model} version {challenger} is the champion: test another version against it")
    if (current := running(client, family)) is not None:
        raise ValueError(f"experiment {current.name!r} is running; stop it first "
                         f"(`shelfwise experiments stop {current.name}`)")
    tags = _tags(client, family)
    if ab.TAG_PREFIX + name in tags:
        raise ValueError(f"an experiment named {name!r} already ran; give the new one another name")
    registry.check_version(client, family, challenger)  # what a service will load must be servable
    now = time.time() if now is None else now
    source = "given with --baseline"
    if baseline is None:
        baseline, source = baseline_conversion(store, now)
    needed = ab.exposures_needed(baseline, mde, alpha, power)
    experiment = ab.Experiment(name=name, family=family, champion=champion, challenger=challenger,
                               share=share, started_at=now, exposures_per_arm=needed,
                               baseline_conversion=baseline, mde=mde, alpha=alpha, power=power)
    _save(client, experiment)
    client.set_registered_model_tag(model, ab.RUNNING_TAG, name)
    store.send_signal(RELOAD_SIGNAL)
    return experiment, source


def report(client: MlflowClient, store: LiveStore, name: str) -> dict:
    """Per arm the test's figures (:func:`features.experiments.ab.arms`), the comparison of
    the challenger against the champion, and the verdict of the rule set at the start."""
    experiment = load(client, name)
    exposures = store.exposures_frame(since=experiment.started_at)
    table = ab.arms(experiment, exposures, attribute(exposures, store.events_frame(recommendation_ids=True)))
    a, b = table.loc[ab.CHAMPION], table.loc[ab.CHALLENGER]
    comparison = ab.compare(int(a["conversions"]), int(a["exposures"]), int(b["conversions"]),
                            int(b["exposures"]), experiment.alpha)
    return {"experiment": experiment, "arms": table, "comparison": comparison,
            "verdict": ab.verdict(experiment, int(a["exposures"]), int(b["exposures"]), comparison),
            "winner": ab.winner(experiment, int(a["exposures"]), int(b["exposures"]), comparison)}


def stop(client: MlflowClient, store: LiveStore, name: str, promote: bool, now: float | None = None) -> str:
    """Stop the test (the service drops the challenger); with ``promote``, the winner the rule
    names becomes champion. Returns what was done, in words."""
    result = report(client, store, name)
    experiment: ab.Experiment = result["experiment"]
    if experiment.status != "running":
        raise ValueError(f"experiment {name!r} was stopped already")
    model = registry.MODEL_NAMES[experiment.family]
    stopped = ab.Experiment.from_dict({**experiment.to_dict(), "status": "stopped",
                                       "stopped_at": time.time() if now is None else now,
                                       "winner": result["winner"]})
    _save(client, stopped)
    client.delete_registered_model_tag(model, ab.RUNNING_TAG)
    said = f"experiment {name} stopped: {result['verdict']}"
    if promote and result["winner"] == ab.CHALLENGER:
        registry.promote(client, experiment.family, experiment.challenger)
        said += f"; {model} version {experiment.challenger} is now champion"
    elif promote:
        said += f"; the champion ({model} version {experiment.champion}) stays"
    store.send_signal(RELOAD_SIGNAL)
    return said


def report_frame(result: dict) -> pd.DataFrame:
    """The report's table as printed and written: one row per arm."""
    return result["arms"].reset_index()
