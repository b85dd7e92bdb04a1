"""The ``segml`` command: ``segml run EXPERIMENT.toml``."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np
import pandas as pd

from segml._validation import mask_secrets
from segml.errors import ModelError, SegmlError, TrackingError, exit_code
from segml.experiment.outputs import check_output_dir, check_replaceable, child_dir

__all__ = ["main"]

if TYPE_CHECKING:
    from segml.experiment.result import ExperimentResult


def _one_line(message: str) -> str:
    """A multi-line message (a rule with a caret under it) as one line."""
    lines = [ln.strip() for ln in message.splitlines()]
    return "; ".join(ln for ln in lines if ln and set(ln) != {"^"})


class _Terminated(KeyboardInterrupt):
    """SIGTERM (what schedulers, systemd and Kubernetes send), raised like Ctrl-C so every
    clean-up that Ctrl-C runs (temporary files, MLflow runs marked KILLED) runs too."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


class _Main(click.Group):
    """Turns segml errors into one line on stderr and a distinct exit code."""

    def invoke(self, ctx: click.Context) -> object:
        with contextlib.suppress(ValueError):  # only the main thread may set handlers
            signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except SegmlError as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            click.echo(f"error: {mask_secrets(_one_line(str(exc)))}", err=True)
            ctx.exit(exit_code(exc))
        except _Terminated:
            click.echo("terminated (SIGTERM)", err=True)
            ctx.exit(143)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            click.echo(
                f"internal error: {type(exc).__name__}: {mask_secrets(_one_line(str(exc)))[:500]} "
                "(rerun with --debug for the traceback, and please report it)",
                err=True,
            )
            ctx.exit(70)
        return None


def _echo(text: str = "") -> None:
    click.echo(mask_secrets(text))


def _progress() -> Callable[[str], None]:
    """Timestamped progress lines on stderr."""
    start = time.perf_counter()

    def say(message: str) -> None:
        click.echo(f"[{time.perf_counter() - start:6.1f}s] {mask_secrets(message)}", err=True)

    return say


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="segml")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """segml: value-based customer segmentation.

    Exit codes: 0 success, 1 other segml error, 2 usage, 3 invalid experiment file, 4 bad
    data, 5 a model cannot be fitted, 6 a model cannot be used, 7 tracking, 8 segml refuses
    to write there (a folder it does not own), 70 internal error, 130 interrupted, 143
    terminated (SIGTERM).
    """
    ctx.obj = {"debug": debug}


def _echo_counts(summary: dict[str, Any]) -> None:
    """The unscored customers by reason, and the prospects valued."""
    if summary["not_scored"]:
        _echo("not scored (kept with a reason):")
        for why, n in summary["not_scored"].items():
            _echo(f"  {why}: {n:,}")
    prospects = summary.get("prospects", {})
    if prospects:
        _echo(f"prospects (attributes, no purchase yet) valued: {prospects.get('prospect', 0):,}")
        for why, n in prospects.items():
            if why != "prospect":
                _echo(f"  {why}: {n:,}")
    _echo("customers per segment (prospects included):" if prospects else "customers per segment:")


def _out_of_range_words(summary: dict[str, Any]) -> str:
    """How many customers were scored outside the training ranges; a warning above 5 %."""
    n, total = summary["out_of_range"], max(summary["scored"], 1)
    text = f"scored outside the ranges the model was trained on: {n:,} ({n / total:.1%})"
    if summary["out_of_range_by_column"]:
        text += (
            " ("
            + ", ".join(f"{col} {k:,}" for col, k in summary["out_of_range_by_column"].items())
            + ")"
        )
    if n > 0.05 * total:
        warnings.warn(
            f"{n / total:.0%} of the scored customers lie outside the ranges the model was "
            "trained on (column out_of_range): their values are extrapolated; retrain on "
            "recent data.",
            UserWarning,
            stacklevel=2,
        )
    return text


def _selection_lines(selection: dict[str, Any]) -> list[str]:
    """How the frequency model was chosen, and what it assumes, in words."""
    lines = []
    if selection.get("criterion") != "fixed":
        lines.append(f"chosen: {selection['reason']}")
    test = selection.get("dropout_test")
    if test:
        lines.append(
            f"dropout against the NBD (no dropout): {test['model']} gains "
            f"{test['lr'] / 2:.1f} log-likelihood points (LR p = {test['p_value']:.2g})"
        )
    if selection.get("no_dropout"):
        lines.append(str(selection["no_dropout"]))
    return lines


def _print_summary(result: ExperimentResult, caught: list[warnings.WarningMessage]) -> None:
    """The data quality, the CLV fit, the hypotheses, skipped steps and warnings."""
    config = result.config
    with pd.option_context(
        "display.width", 160, "display.max_columns", 20, "display.max_colwidth", 60
    ):
        _echo(f"\n== {config.name}: data quality ==")
        _echo(str(result.quality))
        _echo(f"\n== customer value: {result.clv_model.selection_['chosen']} + gamma_gamma ==")
        clv = result.clv_summary()
        _echo(
            "  "
            + ", ".join(f"{k} = {v:.4g}" for k, v in clv["params"].items())
            + f"; log-likelihood {clv['log_likelihood']:.2f}"
        )
        _echo("  spend: " + ", ".join(f"{k} = {v:.4g}" for k, v in clv["spend_params"].items()))
        for line in _selection_lines(result.clv_model.selection_):
            _echo("  " + line)
        if result.holdout is not None:
            h = result.holdout
            _echo(
                f"  holdout: {h.actual_total:,.0f} purchases, {h.expected_total:,.1f} expected; "
                f"correlation {h.correlation:.3f}; MAE {h.mae:.3f}"
            )
        if len(result.validation):
            _echo("\n== hypotheses ==")
            for line in hypothesis_lines(result.validation):
                _echo(line)
    for name, reason in result.skipped.items():
        _echo(f"skipped {name}: {reason}")
    for w in caught:
        _echo(f"warning: {w.message}")


def hypothesis_lines(v: pd.DataFrame) -> list[str]:
    """The hypotheses in at most 100 columns: the ratio of mean value with its interval,
    Holm p, verdict; notes (proxies, directions, disagreements) below."""
    on = v["tested_on"].iloc[0] if "tested_on" in v.columns and len(v) else "value"
    lines = [
        f"ratio of mean {on}, group / rest, 95 % interval; Holm-adjusted permutation test",
        f"{'hypothesis':<20}{'n in':>7}  {'ratio [95 %]':<22}{'Holm p':>8}  "
        f"{'Cliff d':>7}  verdict",
    ]
    for name, r in v.iterrows():
        ratio = (
            f"{r['ratio']:.2f} [{r['ratio_low']:.2f}, {r['ratio_high']:.2f}]"
            if np.isfinite(r["ratio_low"])
            else f"{r['ratio']:.2f}"
        )
        lines.append(
            f"{str(name)[:19]:<20}{int(r['n_in']):>7,}  {ratio:<22}{r['p_holm']:>8.3g}  "
            f"{r['cliffs_delta']:>+7.2f}  {r['verdict']}"
        )
    for name, r in v.iterrows():
        if r.get("note"):
            lines.append(f"  {name}: {r['note']}")
    return lines


def _save_model(result: ExperimentResult, model_dir: Path, say: Callable[[str], None]) -> None:
    from segml.tracking.export import export_model

    if result.champion is None:
        _echo("no segmentation met the champion rule: no model exported")
        return
    say("saving the champion model")
    export_model(result, model_dir)
    _echo(f"model: {model_dir.resolve()} (champion {result.champion!r})")


def _tracking_failure(what: str, exc: Exception, safe: str) -> TrackingError:
    """The one-line error for MLflow failing mid-way, saying what on disk is still whole."""
    return TrackingError(
        f"{what} to MLflow failed ({type(exc).__name__}: {_one_line(str(exc))[:300]}); {safe}."
    )


def _log_and_register(
    result: ExperimentResult,
    model_dir: Path,
    out: Path,
    tracking_uri: str | None,
    say: Callable[[str], None],
    promote: bool = False,
) -> None:
    from segml.tracking.export import export_model
    from segml.tracking.log import log_result

    if result.champion is None:
        _echo("no segmentation met the champion rule: no model exported")
    say("logging to MLflow")
    try:
        ids = log_result(result, tracking_uri=tracking_uri, output_dir=out)
        if result.champion is not None:
            say("saving and registering the champion model")
            exported = export_model(
                result, model_dir, ids["run_id"], ids["tracking_uri"], promote=promote
            )
    except SegmlError:
        raise
    except Exception as exc:  # network, permissions, server errors
        raise _tracking_failure(
            "logging", exc, f"the results on disk are complete: {out.resolve()}"
        ) from exc
    _echo(f"MLflow: experiment {result.config.tracking.experiment!r}, run {ids['run_id']}")
    _echo(f"        tracking URI {ids['tracking_uri']}")
    if ids["tracking_uri"].startswith("sqlite:"):
        _echo(f"        browse with: mlflow ui --backend-store-uri {ids['tracking_uri']}")
    if result.champion is not None:
        _echo(
            f"model: models:/{exported['name']}@{exported['alias']} (version "
            f"{exported['version']}, segmentation {result.champion!r}); local copy "
            f"{model_dir.resolve()}"
        )
        _echo(f"        @{exported['alias']}: {exported['reason']}")


@main.command()
@click.argument("experiment", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the results (default: outputs/<experiment name>).",
)
@click.option(
    "--tracking-uri",
    default=None,
    help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite under $SEGML_HOME).",
)
@click.option(
    "--no-tracking", is_flag=True, help="Do not log to MLflow (the model is still saved)."
)
@click.option(
    "--models-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("models"),
    show_default=True,
    help="The champion model is saved to MODELS_DIR/<experiment name>.",
)
@click.option(
    "--promote",
    is_flag=True,
    help="Point @champion at the new model version even when it does not beat the current "
    "champion on the same data (by default it becomes @challenger).",
)
def run(
    experiment: Path,
    output_dir: Path | None,
    tracking_uri: str | None,
    no_tracking: bool,
    models_dir: Path,
    promote: bool,
) -> None:
    """Run EXPERIMENT (a TOML file): CLV, hypotheses, segmentations, comparison, MLflow."""
    from segml.experiment.config import load_config
    from segml.experiment.run import run_experiment

    config = load_config(experiment)
    # Where results and the model go is settled before any work, so a refusal costs nothing.
    out = output_dir or child_dir("outputs", config.name)
    model_dir = child_dir(models_dir, config.name)
    check_replaceable(model_dir)
    check_output_dir(out)
    say = _progress()
    if not no_tracking:
        import os

        from segml.tracking.log import check_tracking, resolve_tracking_uri

        # Transient HTTP errors are retried, a few times with backoff, not for minutes.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        tracking_uri = resolve_tracking_uri(tracking_uri)
        say(f"checking the tracking store {tracking_uri}")
        check_tracking(tracking_uri)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_experiment(config, progress=say)
    say(f"writing results to {out}")
    result.write(out)

    _print_summary(result, caught)
    _echo(f"\nresults: {out.resolve()}")
    if no_tracking:
        _save_model(result, model_dir, say)
    else:
        _log_and_register(result, model_dir, out, tracking_uri, say, promote)
    _echo("\n== comparison (out of sample is the headline) ==")
    for line in comparison_lines(result.comparison):
        _echo(line)
    comp = result.comparison
    _echo(f"\nchampion: {result.champion} ({comp.attrs.get('champion_status', '')})")
    _echo(f"rule: {comp.attrs['champion_rule']}")
    _echo(f"\nreport: {(out / 'report.html').resolve()}")


def comparison_lines(comp: pd.DataFrame) -> list[str]:
    """The comparison in at most 100 columns: the score with its 95 % interval, the paired
    difference to the best, stability, eligibility."""
    score = comp.attrs.get("score", "oos_normalised_gini")
    where = "out of sample" if score.startswith("oos") else "in sample"
    lines = [
        f"normalised Gini {where}, 95 % bootstrap intervals "
        f"({comp.attrs.get('n_intervals', 0)} resamples of customers)",
        f"{'segmentation':<16}{'k':>3} {'min grp':>7}  {'Gini [95 % interval]':<22}"
        f"{'minus best [95 %]':<20}{'ARI':>5}  status",
    ]
    for name, row in comp.iterrows():
        gini = f"{row[score]:.3f} [{row.get(f'{score}_low', np.nan):.3f}, " + (
            f"{row.get(f'{score}_high', np.nan):.3f}]"
        )
        low, high = row.get("diff_to_best_low", np.nan), row.get("diff_to_best_high", np.nan)
        diff = f"[{low:+.3f}, {high:+.3f}]"
        ari = row.get("stability_ari", np.nan)
        status = (
            "champion"
            if row["champion"]
            else (
                "tied"
                if row.get("tied_with_best")
                else ("eligible" if row["eligible"] else "not eligible")
            )
        )
        lines.append(
            f"{str(name)[:15]:<16}{int(row['k']):>3} {row['min_share']:>7.3f}  {gini:<22}"
            f"{diff:<20}{ari:>5.2f}  {status}"
        )
    return lines


@main.command()
@click.option(
    "--model",
    "model_uri",
    required=True,
    help="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/... or a directory.",
)
@click.option(
    "--transactions", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--customers", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None
)
@click.option(
    "--as-of",
    default=None,
    help="Summarise history up to this date (default: last transaction date).",
)
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A .parquet or .csv file.",
)
@click.option("--customer", default="customer_id", show_default=True, help="Customer id column.")
@click.option("--time", "time_col", default="date", show_default=True, help="Timestamp column.")
@click.option("--amount", default="amount", show_default=True, help="Amount column.")
@click.option(
    "--time-format",
    default=None,
    help="strftime format of the timestamps, or epoch_s / epoch_ms (default ISO 8601).",
)
@click.option(
    "--customer-key", default="customer_id", show_default=True, help="Id column of --customers."
)
@click.option(
    "--horizon", type=float, default=None, help="Override the model's CLV horizon (time units)."
)
@click.option(
    "--discount-rate", type=float, default=None, help="Override the model's annual discount rate."
)
@click.option("--chunk-size", type=click.IntRange(min=1), default=100_000, show_default=True)
@click.option("--tracking-uri", default=None, help="Where models:/ and runs:/ URIs live.")
@click.option(
    "--baseline",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A previous scoring to measure drift and migration against "
    "(default: the population the model was trained on).",
)
@click.option(
    "--no-tracking",
    is_flag=True,
    help="Do not log the scoring as an MLflow run (logged by default for models:/ and "
    "runs:/ URIs, or with --tracking-uri).",
)
def score(
    model_uri: str,
    transactions: Path,
    customers: Path | None,
    as_of: str | None,
    output: Path,
    customer: str,
    time_col: str,
    amount: str,
    time_format: str | None,
    customer_key: str,
    horizon: float | None,
    discount_rate: float | None,
    chunk_size: int,
    tracking_uri: str | None,
    baseline: Path | None,
    no_tracking: bool,
) -> None:
    """Score every customer of a transaction file with an exported segml model."""
    from segml.data.times import check_time_settings
    from segml.tracking.batch import score_file
    from segml.tracking.export import load_model

    check_time_settings(time_format, "UTC")  # before a model is fetched from a server
    say = _progress()
    say(f"loading {model_uri}")
    try:
        model = load_model(model_uri, tracking_uri=tracking_uri)
    except SegmlError:
        raise
    except Exception as exc:  # a missing alias, an unreachable server, a corrupt directory
        raise ModelError(f"cannot load model {model_uri!r}: {_one_line(str(exc))[:500]}") from exc
    params = {
        k: v
        for k, v in {"horizon": horizon, "discount_rate": discount_rate}.items()
        if v is not None
    }

    def progress(done: int, total: int) -> None:
        click.echo(f"scored {done:,} / {total:,} customers", err=True)

    summary = score_file(
        model,
        transactions,
        output,
        customers=customers,
        as_of=as_of,
        customer=customer,
        time=time_col,
        amount=amount,
        time_format=time_format,
        customer_key=customer_key,
        chunk_size=chunk_size,
        params=params or None,
        progress=progress,
        baseline=baseline,
    )
    _echo(
        f"\nscored {summary['scored']:,} of {summary['customers']:,} customers "
        f"as of {summary['as_of']}"
    )
    _echo_counts(summary)
    for name, n in summary["segments"].items():
        _echo(f"  {name}: {n:,}")
    _echo(_out_of_range_words(summary))
    dropped = summary["quality"].get("dropped", {})
    if dropped:
        _echo("transaction rows dropped: " + ", ".join(f"{k} {v:,}" for k, v in dropped.items()))
    if summary["drift"] is not None:
        from segml.experiment.drift_report import summary_lines

        for line in summary_lines(summary["drift"]):
            _echo(line)
    else:
        _echo("no drift report: the model stores no training baseline; pass --baseline")
    _echo(f"written: {output.resolve()}")
    for file in summary["drift_files"]:
        _echo(f"written: {Path(file).resolve()}")
    registry = model_uri.startswith(("models:/", "runs:/"))
    if not no_tracking and (registry or tracking_uri):
        _log_scoring(summary, model_uri, transactions, tracking_uri)


def _log_scoring(
    summary: dict[str, Any], model_uri: str, transactions: Path, tracking_uri: str | None
) -> None:
    from segml.tracking.log import log_scoring

    try:
        ids = log_scoring(summary, model_uri, transactions, tracking_uri)
    except SegmlError:
        raise
    except Exception as exc:  # network, permissions, server errors
        raise _tracking_failure(
            "logging the scoring", exc, "the scores on disk are complete"
        ) from exc
    _echo(f"MLflow: scoring run {ids['run_id']} (experiment {ids['experiment_id']})")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
