"""The streaming YAML loader: the same data as PyYAML's safe loader, with a small peak."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from prober.config import ConfigError, load_config, load_yaml
from prober.config.yaml_loader import (
    MAX_ALIAS_NODES,
    MAX_CONFIG_BYTES,
    MAX_DEPTH,
    YAMLFileError,
    load_yaml_file,
)

from .conftest import REPO

DOCUMENTS = {
    "empty": "",
    "comment only": "# nothing\n",
    "a scalar": "3\n",
    "a list at the top": "- probes\n- [1, 2]\n",
    "probes not a list": "probes: {a: 1}\n",
    "flow probes": "probes: [{name: a, url: 'http://x'}, {name: b}]\n",
    "empty probes": "probes: []\n",
    "anchors across probes": (
        "probes:\n"
        "  - &base {name: a, expect: {status: [200, 2xx]}, tls: {verify: false}}\n"
        "  - <<: *base\n    name: b\n"
        "  - {name: c, expect: {status: 1}}\n"
    ),
    "an anchor in a probe used at the top": "probes:\n  - &p {name: a}\nother: *p\n",
    "an anchor at the top used in a probe": (
        "base: &b {interval: 5s}\nprobes:\n  - {<<: *b, name: a}\n"
    ),
    "anchored probes list": "probes: &all\n  - {name: a}\nagain: *all\n",
    "tagged probes list": "probes: !!seq\n  - {name: a}\n",
    "typed scalars": (
        "probes:\n  - {n: 1, f: 1.5, b: yes, z: null, t: 2024-01-02, s: !!str 3, o: 0o17}\n"
    ),
    "merge keys override": "a: &a {x: 1, y: 2}\nb: {<<: *a, x: 3}\nprobes: []\n",
    "nested probes key": "agent: {probes: [{name: a}]}\nprobes: [{name: b}]\n",
    "block scalars": "probes:\n  - body: |\n      line one\n      line two\n    name: a\n",
}


@pytest.mark.parametrize("text", DOCUMENTS.values(), ids=DOCUMENTS.keys())
def test_documents_load_to_the_same_data_as_the_safe_loader(text: str) -> None:
    assert load_yaml(text) == yaml.load(text, Loader=yaml.CSafeLoader)


def test_the_bundled_probes_yaml_loads_to_the_same_data() -> None:
    text = (REPO / "probes.yaml").read_text(encoding="utf-8")
    assert load_yaml(text) == yaml.safe_load(text)


ERRORS = {
    "two documents": "probes: []\n---\nprobes: []\n",
    "undefined alias": "probes:\n  - *nowhere\n",
    "unclosed flow": "probes: [{name: a}\n",
    "bad indentation": "probes:\n  - name: a\n   url: b\n",
    "the private tag": "probes:\n  - !<tag:prober,2024:constructed> [1]\n",
    "unhashable key": "probes:\n  - {[1]: a}\n",
    "probes twice": "probes: [{name: a}]\nprobes: [{name: b}]\n",
    "a key twice in a probe": "probes:\n  - name: a\n    url: x\n    name: b\n",
    "self-referencing alias": "probes:\n  - &p {name: a, json: *p}\n",
    "nested too deep": "probes: " + "[" * 500 + "]" * 500 + "\n",
    "number too long": "probes: " + "1" * 5000 + "\n",
}


@pytest.mark.parametrize("text", ERRORS.values(), ids=ERRORS.keys())
def test_broken_documents_raise_yaml_errors_with_a_position(text: str) -> None:
    with pytest.raises(yaml.YAMLError) as info:
        load_yaml(text)
    assert getattr(info.value, "problem_mark", None) is not None


def test_a_yaml_error_in_a_probe_is_a_config_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "probes.yaml"
    path.write_text("probes:\n  - name: a\n  - *nowhere\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.lines == [
        f"{path}: line 3 column 5: invalid YAML: found undefined alias 'nowhere'"
    ]


scalars = st.one_of(
    st.integers(), st.booleans(), st.none(), st.text(max_size=8), st.floats(allow_nan=False)
)
trees = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["probes", "agent", "x"]), trees, max_size=3))
def test_any_dumped_tree_loads_back_the_same(tree: dict[str, object]) -> None:
    text = yaml.safe_dump(tree)
    assert load_yaml(text) == yaml.safe_load(text)


def test_peak_memory_does_not_grow_with_a_whole_document_of_nodes() -> None:
    """The stock loader holds every probe's nodes at once; this one holds one probe's."""
    item = "  - {name: p%05d, url: 'http://127.0.0.1:1/x', expect: {status: [200]}}\n"
    text = "probes:\n" + "".join(item % i for i in range(3000))

    def peak(load: object) -> int:
        tracemalloc.start()
        try:
            assert callable(load)
            load(text)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    streaming = peak(load_yaml)
    stock = peak(lambda t: yaml.load(t, Loader=yaml.CSafeLoader))
    assert streaming < stock / 3


def _limit_error(text: str) -> str:
    with pytest.raises(yaml.YAMLError) as info:
        load_yaml(text)
    mark = getattr(info.value, "problem_mark", None)
    assert mark is not None
    return f"line {mark.line + 1}: {getattr(info.value, 'problem', '')}"


def test_a_key_written_twice_names_both_lines() -> None:
    text = "probes:\n  - name: a\nagent: {}\nprobes:\n  - name: b\n"
    assert _limit_error(text) == "line 4: duplicate key 'probes' (first at line 1)"


def test_an_alias_bomb_stops_at_the_alias_budget_long_before_expanding() -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    text = "\n".join(lines) + "\nprobes: *a9\n"
    assert _limit_error(text).endswith(f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes")


def test_aliases_within_the_budget_load_like_the_safe_loader() -> None:
    text = "h: &h {Authorization: x, Accept: y}\nprobes:\n" + "  - {headers: *h}\n" * 500
    assert load_yaml(text) == yaml.safe_load(text)


def test_nesting_stops_at_the_depth_limit_and_one_level_less_loads() -> None:
    def nested(depth: int) -> str:  # the root mapping is one level, `probes` one more
        return "probes: " + "[" * (depth - 1) + "]" * (depth - 1) + "\n"

    assert load_yaml(nested(MAX_DEPTH)) is not None
    assert _limit_error(nested(MAX_DEPTH + 1)) == f"line 1: nested deeper than {MAX_DEPTH} levels"


def test_a_file_over_the_size_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "probes.yaml"
    path.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.lines == [f"{path}: cannot read: larger than 16 MiB"]


def test_dev_zero_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError) as info:
        load_config("/dev/zero")
    assert info.value.lines == ["/dev/zero: cannot read: larger than 16 MiB"]


def test_a_control_character_is_reported_with_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "probes.yaml"
    path.write_text('probes:\n  - name: "é\x07"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.lines == [
        f"{path}: line 2 column 13, in probes.name: invalid YAML: character #x0007: "
        "control characters are not allowed"
    ]


def test_load_yaml_file_is_the_bounded_loader_for_callers_off_the_event_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "probes.yaml"
    path.write_text("probes: [{name: a}]\n", encoding="utf-8")
    assert load_yaml_file(path) == {"probes": [{"name": "a"}]}
    path.write_text("probes: [1]\nprobes: [2]\n", encoding="utf-8")
    with pytest.raises(YAMLFileError, match=r"^line 2 column 1: duplicate key 'probes'"):
        load_yaml_file(path)
