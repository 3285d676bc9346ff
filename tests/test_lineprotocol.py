"""Line protocol: escaping, value formatting, missing values, and a round trip through a parser."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.lineprotocol import FieldType, LineSpec, escape_tag, format_lines, quote_string
from simulators.servers import InfluxV1

NAN = math.nan
FLOAT, INT, BOOL, STRING = (
    LineSpec("level", FieldType.FLOAT),
    LineSpec("count", FieldType.INT),
    LineSpec("tilt", FieldType.BOOL),
    LineSpec("note", FieldType.STRING),
)

# --- a small reference parser, after the InfluxDB 1.x line protocol parser -------------------
# A character right after a backslash never separates; escape codes are removed only where the
# line protocol reference defines them, any other backslash is kept as it is.


def _split(text: str, sep: str, *, quotes: bool = False, limit: int = -1) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if quotes and char == '"':
            quoted = not quoted
        if char == sep and not quoted and limit != len(parts):
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def _unescape(text: str, codes: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in codes:
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _value(text: str) -> object:
    if text.startswith('"'):
        return _unescape(text[1:-1], '"\\')
    if text.endswith("i"):
        return int(text[:-1])
    if text in {"true", "false"}:
        return text == "true"
    return float(text)


def _pair(text: str) -> tuple[str, str]:
    key, value = _split(text, "=", quotes=True)  # an unescaped "=" more is a parse error
    return key, value


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, object], int]:
    series, rest = _split(line, " ", limit=1)
    fields_text, stamp = _split(rest, " ", quotes=True, limit=1)
    measurement, *tag_pairs = _split(series, ",")
    tags = dict(_pair(pair) for pair in tag_pairs)
    fields: dict[str, object] = {}
    for pair in _split(fields_text, ",", quotes=True):
        key, value = _pair(pair)
        fields[_unescape(key, ',= "')] = _value(value)
    return (
        _unescape(measurement, ", "),
        {_unescape(k, ',= "'): _unescape(v, ',= "') for k, v in tags.items()},
        fields,
        int(stamp),
    )


# --- examples ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("Zaandam Oost", r"Zaandam\ Oost"),
        ("a,b", r"a\,b"),
        ("k=v", r"k\=v"),
        ("plain-name_01", "plain-name_01"),
        # InfluxDB 1.x keeps a backslash in a tag as it is (and "\\" as two): never doubled
        ("back\\slash", "back\\slash"),
        ("all of ,= \\x", r"all\ of\ \,\=\ \x"),
    ],
)
def test_escape_tag(raw: str, escaped: str) -> None:
    assert escape_tag(raw) == escaped


def test_quote_string() -> None:
    assert quote_string('say "hi" \\o/') == r'"say \"hi\" \\o/"'
    assert quote_string("") == '""'


def test_one_line_with_every_value_type() -> None:
    tags = [",device=" + escape_tag("air 1") + ",district=" + escape_tag("Zaandam,Oost")]
    lines = format_lines(
        "air",
        tags,
        np.array([1_700_000_000_123_456_789], dtype=np.int64),
        {
            LineSpec("pm25", FieldType.FLOAT): np.array([12.5]),
            LineSpec("pm25_qc", FieldType.INT): np.array([4.0]),
            LineSpec("tilt", FieldType.BOOL): np.array([1.0]),
            LineSpec("eaqi_pollutant", FieldType.STRING): ['no2 "peak"'],
        },
    )
    assert lines == [
        (
            0,
            r"air,device=air\ 1,district=Zaandam\,Oost "
            r'pm25=12.5,pm25_qc=4i,tilt=true,eaqi_pollutant="no2 \"peak\"" '
            "1700000000123456789",
        )
    ]


def test_formats_of_numbers() -> None:
    lines = format_lines(
        "m",
        [""] * 4,
        np.arange(4, dtype=np.int64),
        {
            FLOAT: np.array([1.0, 0.1, 1e-7, -2.5e300]),
            INT: np.array([0.0, -3.0, 2.0**53, 7.0]),
            BOOL: np.array([0.0, 1.0, 0.0, 1.0]),
        },
    )
    assert [line for _, line in lines] == [
        "m level=1.0,count=0i,tilt=false 0",
        "m level=0.1,count=-3i,tilt=true 1",
        "m level=1e-07,count=9007199254740992i,tilt=false 2",
        "m level=-2.5e+300,count=7i,tilt=true 3",
    ]


def test_missing_values_are_left_out_and_empty_rows_dropped() -> None:
    lines = format_lines(
        "m",
        [",d=a", ",d=b", ",d=c"],
        np.array([10, 20, 30], dtype=np.int64),
        {
            FLOAT: np.array([NAN, NAN, math.inf]),
            INT: np.array([5.0, NAN, NAN]),
            STRING: [None, None, "x"],
        },
    )
    assert lines == [(0, "m,d=a count=5i 10"), (2, 'm,d=c note="x" 30')]


def test_all_missing_gives_no_lines() -> None:
    lines = format_lines(
        "m", [",d=a"], np.array([1], dtype=np.int64), {FLOAT: np.array([NAN]), STRING: [None]}
    )
    assert lines == []


def test_measurement_escapes_comma_and_space_only() -> None:
    lines = format_lines("my m,x=1", [""], np.array([1], dtype=np.int64), {FLOAT: np.array([1.0])})
    assert lines == [(0, r"my\ m\,x=1 level=1.0 1")]


# --- round trip through the reference parser --------------------------------------------------

_TAG_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\\"), min_size=1
)
_FLOATS = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.just(NAN))
_INTS = st.one_of(st.integers(-(2**53), 2**53).map(float), st.just(NAN))
_BOOLS = st.sampled_from([0.0, 1.0, NAN])
_STRINGS = st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs",))))
_ROWS = st.lists(st.tuples(_TAG_TEXT, _TAG_TEXT, _FLOATS, _INTS, _BOOLS, _STRINGS), max_size=8)


def _columns(
    rows: Sequence[tuple[str, str, float, float, float, str | None]],
) -> dict[LineSpec, np.ndarray | list[str | None]]:
    return {
        FLOAT: np.array([r[2] for r in rows], dtype=np.float64),
        INT: np.array([r[3] for r in rows], dtype=np.float64),
        BOOL: np.array([r[4] for r in rows], dtype=np.float64),
        STRING: [r[5] for r in rows],
    }


def _expected(row: tuple[str, str, float, float, float, str | None]) -> dict[str, object]:
    _, _, level, count, tilt, note = row
    values: dict[str, object] = {
        "level": None if math.isnan(level) else level,
        "count": None if math.isnan(count) else int(count),
        "tilt": None if math.isnan(tilt) else tilt == 1.0,
        "note": note,
    }
    return {k: v for k, v in values.items() if v is not None}


@settings(max_examples=150, deadline=None)
@given(_ROWS)
def test_round_trip_through_a_reference_parser(
    rows: list[tuple[str, str, float, float, float, str | None]],
) -> None:
    tags = [f",device={escape_tag(r[0])},district={escape_tag(r[1])}" for r in rows]
    stamps = np.arange(len(rows), dtype=np.int64) * 1_000_000_007
    lines = format_lines("air quality", tags, stamps, _columns(rows))
    expected_rows = [i for i, row in enumerate(rows) if _expected(row)]
    assert [i for i, _ in lines] == expected_rows
    for i, line in lines:
        measurement, parsed_tags, fields, stamp = parse_line(line)
        assert measurement == "air quality"
        assert parsed_tags == {"device": rows[i][0], "district": rows[i][1]}
        assert fields == _expected(rows[i])
        assert stamp == stamps[i]


def test_escaped_lines_round_trip_through_influxdb(
    influxdb_session: InfluxV1, unique_name: str
) -> None:
    names = ["a,b c=d", "back\\slash", 'quote"d', "ü-ñ"]
    tags = [f",device={escape_tag(name)},district=x" for name in names]
    notes = ['say "hi"', "C:\\temp\\", "two\nlines", "plain"]
    lines = format_lines(
        unique_name,
        tags,
        np.arange(1, 5, dtype=np.int64),
        {FLOAT: np.array([0.1, -1e-300, 12345.678, 3.0]), STRING: notes},
    )
    influxdb_session.write("\n".join(line for _, line in lines))
    rows = influxdb_session.query(f'SELECT * FROM "{unique_name}" GROUP BY *')
    got = {r["time"]: (r["device"], r["level"], r["note"]) for r in rows}
    assert got == {
        1: (names[0], 0.1, notes[0]),
        2: (names[1], -1e-300, notes[1]),
        3: (names[2], 12345.678, notes[2]),
        4: (names[3], 3.0, notes[3]),
    }
