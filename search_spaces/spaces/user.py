"""User-defined spaces from a YAML or TOML file, in the vocabulary of the staged template.

A file holds (all optional but ``dimensions`` or ``base``)::

    name: my-space                  # default: the file's stem
    description: "..."
    base: mognet                    # start from a shipped space's preset for the input shape
    video: false                    # default: the base's, or true when head can be 'lstm'
    params: {min_spatial: 2}        # stem_stride, min_spatial, max_downsamples,
                                    # temporal_downsamples
    dimensions:                     # knobs of search_spaces.spaces.staged.VOCABULARY
      stages: {low: 1, high: 3}
      width: {per_stage: [[16, 32], [32, 64], [64, 128]]}
      gate: [add, mux]
      ...
    accelerator:                    # co-search: fields of hwmodel.accel.AccelConfig, same
      rows: [8, 16, 32]             # forms (see search_spaces.spaces.accel)
      dataflow: [ws, os]

Every error is a ``ValueError`` of one line, ``FILE:LINE: FIELD=VALUE RULE`` (the line of the
offending key or item; TOML lines are found by key, best effort), so ``dse`` prints it as is.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from search_spaces.spaces.staged import (
    VOCABULARY,
    KnobError,
    PresetSpace,
    StagedSpace,
    auto_min_spatial,
    auto_stem_stride,
    downsample_budget,
    parse_knob,
)

Path = tuple[str | int, ...]
TOP_FIELDS = ("name", "description", "base", "video", "params", "dimensions", "accelerator")
_PARAM_MIN = {"stem_stride": 1, "min_spatial": 1, "max_downsamples": 0, "temporal_downsamples": 0}


@dataclass
class UserSpaceFile:
    """A parsed, validated space file (shape-independent); ``lines`` maps paths to lines."""

    path: str
    name: str
    description: str
    base: str | None
    video: bool | None
    params: dict[str, int]
    dimensions: dict[str, Any]
    lines: dict[Path, int] = field(default_factory=dict)
    #: accelerator field -> form (empty: the space does not search the accelerator)
    accelerator: dict[str, Any] = field(default_factory=dict)

    def error(self, at: Path, message: str) -> ValueError:
        """A one-line error located at the longest known prefix of ``at``."""
        for k in range(len(at), 0, -1):
            if at[:k] in self.lines:
                return ValueError(f"{self.path}:{self.lines[at[:k]]}: {message}")
        return ValueError(f"{self.path}: {message}")


class UserSpace(StagedSpace):
    """A staged space whose knobs come from a file (optionally on top of a shipped preset)."""

    def __init__(self, spec: UserSpaceFile, input_shape: Sequence[int], num_classes: int,
                 **params: Any) -> None:
        self.file = spec
        base_cls = _base_class(spec)
        video = file_is_video(spec)
        overrides = {k: v for k, v in params.items() if k in VOCABULARY}
        struct = {k: v for k, v in params.items() if k not in VOCABULARY}
        unknown = sorted(set(struct) - set(StagedSpace.accepted_params))
        if unknown:
            raise ValueError(f"space {spec.name!r}: unknown parameter {unknown[0]!r} "
                             f"(parameters: {', '.join(StagedSpace.accepted_params)}; knobs: "
                             f"{', '.join(VOCABULARY)})")
        shape = tuple(input_shape)
        knobs: dict[str, Any] = {}
        if base_cls is not None:
            from search_spaces.spaces.base import check_input_shape

            check_input_shape(spec.name, shape, video)
            struct = {**base_cls.default_params(shape), **spec.params, **struct}
            stem = struct.get("stem_stride") or auto_stem_stride(shape)
            min_sp = struct.get("min_spatial") or auto_min_spatial(shape)
            budget = downsample_budget(shape, stem, min_sp)
            if struct.get("max_downsamples") is not None:
                budget = min(budget, struct["max_downsamples"])
            knobs.update(base_cls.preset(shape, budget))
        else:
            struct = {**spec.params, **struct}
        knobs.update(spec.dimensions)
        knobs.update(overrides)
        description = spec.description or (
            f"user space from {os.path.basename(spec.path)}"
            + (f" (based on {spec.base})" if spec.base else ""))
        try:
            super().__init__(shape, num_classes, knobs=knobs, name=spec.name,
                             description=description, video=video, **struct)
        except KnobError as exc:
            if exc.path and exc.path[0] in spec.dimensions:
                raise spec.error(("dimensions", *exc.path), f"dimensions.{exc.message}") from None
            raise ValueError(f"{spec.path}: {exc.message}") from None
        if spec.accelerator:
            try:
                self.with_accelerator(spec.accelerator)
            except KnobError as exc:
                raise spec.error(exc.path, exc.message) from None


def file_is_video(spec: UserSpaceFile) -> bool:
    """Declared ``video``, else the base's, else whether ``head`` can be 'lstm'."""
    if spec.video is not None:
        return spec.video
    base_cls = _base_class(spec)
    return base_cls.video if base_cls is not None else _head_can_be_lstm(spec.dimensions)


def _base_class(spec: UserSpaceFile) -> type[PresetSpace] | None:
    if spec.base is None:
        return None
    from search_spaces.spaces.registry import SPACES

    factory = SPACES.get(spec.base) if spec.base in SPACES else None
    if not (isinstance(factory, type) and issubclass(factory, PresetSpace)):
        valid = sorted(n for n, f in SPACES.items()
                       if isinstance(f, type) and issubclass(f, PresetSpace))
        raise spec.error(("base",), f"base={spec.base!r} must be one of {valid}")
    return factory


def _head_can_be_lstm(dims: Mapping[str, Any]) -> bool:
    head = dims.get("head", "linear")
    if isinstance(head, Mapping):
        head = head.get("choices", ())
    return "lstm" in (head if isinstance(head, list | tuple) else (head,))


# ---------------------------------------------------------------------------------- reading


def read_space_file(path: str) -> UserSpaceFile:
    """Read and validate a space file (syntax, fields, knob forms); errors name the line."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror})") from None
    if path.lower().endswith(".toml"):
        data, lines = _load_toml(path, text)
    else:
        data, lines = _load_yaml(path, text)
    spec = UserSpaceFile(path, "", "", None, None, {}, {}, lines)
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}:1: the file must hold a mapping of "
                         f"{', '.join(TOP_FIELDS)}; got {type(data).__name__}")
    for key in data:
        if key not in TOP_FIELDS:
            raise spec.error((key,), f"unknown field {key!r} (known: {', '.join(TOP_FIELDS)})")
    stem = os.path.splitext(os.path.basename(path))[0]
    spec.name = _str_field(spec, data, "name", stem)
    spec.description = _str_field(spec, data, "description", "")
    spec.base = _str_field(spec, data, "base", "") or None
    video = data.get("video")
    if video is not None and not isinstance(video, bool):
        raise spec.error(("video",), f"video={video!r} must be true or false")
    spec.video = video
    params = data.get("params", {}) or {}
    if not isinstance(params, Mapping):
        raise spec.error(("params",), f"params={params!r} must be a mapping")
    for pname, pval in params.items():
        if pname not in _PARAM_MIN:
            raise spec.error(("params", pname), f"params: unknown field {pname!r} (known: "
                             f"{', '.join(_PARAM_MIN)})")
        lo = _PARAM_MIN[pname]
        if not isinstance(pval, int) or isinstance(pval, bool) or pval < lo:
            raise spec.error(("params", pname), f"params.{pname}={pval!r} must be an integer "
                             f">= {lo}")
    spec.params = dict(params)
    dims = data.get("dimensions", {}) or {}
    if not isinstance(dims, Mapping):
        raise spec.error(("dimensions",), f"dimensions={dims!r} must be a mapping of knobs")
    if not dims and spec.base is None:
        raise spec.error(("dimensions",), "dimensions: a space needs 'dimensions' or a 'base'")
    for name, form in dims.items():
        try:
            parse_knob(str(name), form, ("dimensions", str(name)))
        except KnobError as exc:
            raise spec.error(exc.path, exc.message) from None
    spec.dimensions = {str(k): v for k, v in dims.items()}
    if "accelerator" in data:
        from search_spaces.spaces.accel import accel_dimensions

        accel = data["accelerator"]
        if accel is None or isinstance(accel, Mapping) and not accel:
            raise spec.error(("accelerator",), "accelerator: needs at least one field: values "
                             "(or leave the section out)")
        try:
            accel_dimensions(accel)
        except KnobError as exc:
            raise spec.error(exc.path, exc.message) from None
        spec.accelerator = {str(k): v for k, v in accel.items()}
    if spec.base is not None:
        _base_class(spec)
    return spec


def load_user_space(path: str, *, input_shape: Sequence[int], num_classes: int,
                    **params: Any) -> UserSpace:
    """The space described by the file at ``path`` for an input shape and class count."""
    return UserSpace(read_space_file(path), input_shape, num_classes, **params)


def _str_field(spec: UserSpaceFile, data: Mapping[str, Any], key: str, default: str) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise spec.error((key,), f"{key}={value!r} must be a string")
    return value


def _load_yaml(path: str, text: str) -> tuple[Any, dict[Path, int]]:
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = (exc.problem or exc.context or "syntax error").strip()
        raise ValueError(f"{path}:{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    lines: dict[Path, int] = {}
    if node is not None:
        _yaml_lines(node, (), lines)
    return data, lines


def _yaml_lines(node: Any, path: Path, lines: dict[Path, int]) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*path, str(key_node.value))
            lines[key] = key_node.start_mark.line + 1
            _yaml_lines(value_node, key, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _yaml_lines(item, (*path, i), lines)


_TOML_LINE = re.compile(r"at line (\d+)")
_TOML_WHERE = re.compile(r"\s*\(at [^)]*\)\s*$")
_TOML_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\s*(#.*)?$")
_TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_.\-\"]+)\s*=")


def _load_toml(path: str, text: str) -> tuple[Any, dict[Path, int]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _TOML_LINE.search(msg)
        line = m.group(1) if m else str(max(1, len(text.splitlines())))  # "at end of document"
        problem = _TOML_WHERE.sub("", msg).strip()
        raise ValueError(f"{path}:{line}: invalid TOML: {problem}") from None
    return data, _toml_lines(text)


def _toml_lines(text: str) -> dict[Path, int]:
    """Best-effort line of each table header and key (dotted keys and [tables] followed)."""
    lines: dict[Path, int] = {}
    table: Path = ()
    for n, raw in enumerate(text.splitlines(), start=1):
        m = _TOML_TABLE.match(raw)
        if m:
            table = tuple(p.strip().strip('"') for p in m.group(1).split("."))
            for k in range(1, len(table) + 1):
                lines.setdefault(table[:k], n)
            continue
        m = _TOML_KEY.match(raw)
        if m:
            key = (*table, *(p.strip('"') for p in m.group(1).split(".")))
            for k in range(len(table) + 1, len(key) + 1):
                lines.setdefault(key[:k], n)
    return lines


__all__ = ["UserSpace", "UserSpaceFile", "file_is_video", "load_user_space", "read_space_file"]
