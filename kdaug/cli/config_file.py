"""--config FILE: a command's options from a JSON, TOML or YAML file with the keys of a run's
config.json, so that a resolved configuration re-runs as it is and a recipe can be kept in a
file. The file's values become the command's defaults: flags on the command line override
them, and click checks them exactly as it checks flags."""
from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path

import click

from kdaug.errors import KdaugError

# keys config.json records about a run that are outcomes, not options: accepted and ignored
RECORDED = {"trained_arch", "backend_resolved", "device_resolved", "world_size",
            "train_views_family", "num_classes", "train_images", "val_images", "versions",
            "teacher_sha256", "start_epoch", "history"}
# options a file does not set: continuing a run is decided on the command line
COMMAND_LINE_ONLY = {"resume"}
FORMATS = (".json", ".toml", ".yaml", ".yml")


def read_file(path: Path) -> dict:
    """The mapping a config file holds; KdaugError naming the file for anything else."""
    if path.suffix not in FORMATS:
        raise KdaugError(f"--config {path}: use a {', '.join(FORMATS)} file")
    try:
        text = path.read_text()
    except OSError as exc:
        raise KdaugError(f"--config {path}: {exc.strerror or exc}") from None
    if path.suffix == ".json":
        loads, error = json.loads, ValueError
    elif path.suffix == ".toml":
        loads, error = _toml()
    else:
        loads, error = _yaml()
    try:
        data = loads(text)
    except error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KdaugError(f"--config {path} cannot be parsed: {first}") from None
    if not isinstance(data, dict):
        raise KdaugError(f"--config {path}: expected keys and values at the top, found a "
                         f"{type(data).__name__}")
    return data


def _toml():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python < 3.11
        try:
            import tomli as tomllib
        except ImportError:
            raise KdaugError("--config: reading TOML before Python 3.11 needs tomli "
                             "(pip install tomli)") from None
    return tomllib.loads, tomllib.TOMLDecodeError


def _yaml():
    try:
        import yaml
    except ImportError:
        raise KdaugError("--config: reading YAML needs PyYAML (pip install pyyaml)") from None
    return yaml.safe_load, yaml.YAMLError


def _as_option_value(param: click.Parameter, value):
    """What the flag would have been given: --hp T=3 --hp alpha=0.5 for a table, 150,180,210
    for a list of milestones."""
    if param.multiple:
        if isinstance(value, dict):
            return [f"{k}={v}" for k, v in value.items()]
        return list(value) if isinstance(value, (list, tuple)) else [value]
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return value


def _unknown(keys, known) -> str:
    def hint(key):
        close = difflib.get_close_matches(key.replace("-", "_"), known, n=1)
        return f"{key} (did you mean {close[0]}?)" if close and close[0] != key else key

    return ", ".join(hint(k) for k in keys)


def _load(ctx: click.Context, param: click.Parameter, value):
    if value is None:
        return None
    path = Path(value)
    data = read_file(path)
    params = {p.name: p for p in ctx.command.params if p.name != param.name}
    unknown = sorted(k for k in data if k not in params and k not in RECORDED)
    if unknown:
        raise KdaugError(f"--config {path}: unknown key{'s' if len(unknown) > 1 else ''} "
                         f"{_unknown(unknown, sorted(params))}; the keys are those of a run's "
                         f"config.json")
    defaults = {}
    for key, raw in data.items():
        if key in RECORDED or key in COMMAND_LINE_ONLY or raw is None:
            continue
        option = params[key]
        value = _as_option_value(option, raw)
        try:  # checked here, so that a bad value names the file and the key
            option.process_value(ctx, value)
        except click.BadParameter as exc:
            raise KdaugError(f"--config {path}: {key}: {exc.message}") from None
        defaults[key] = value
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return str(path)


def config_option(f):
    return click.option(
        "--config", type=click.Path(dir_okay=False), default=None, is_eager=True,
        expose_value=False, callback=_load,
        help="Read options from a .json, .toml or .yaml file with the keys of a run's "
             "config.json (RUN_DIR/config.json re-runs that run); flags given here override "
             "it. YAML needs PyYAML.")(f)
