"""An XLSX is measured before the reader allocates anything for it: its real unpacked size, the
box its cells span, its columns, cells, shared strings and merged ranges."""

from __future__ import annotations

import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

from app.uploads.reading.opening import open_table
from app.uploads.reading.refusals import UploadRejected
from app.uploads.reading.xlsx_bounds import MAX_MERGED_RANGES, XlsxLimits, check_workbook
from tests.uploads.builders import sparse_sheet, xlsx_by_hand


def refusal(path: Path, limits: XlsxLimits | None = None) -> UploadRejected:
    with pytest.raises(UploadRejected) as caught:
        check_workbook(path, name=f'"{path.name}"', limits=limits or XlsxLimits())
    return caught.value


def written(tmp_path: Path, data: bytes, name: str = "list.xlsx") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def v(value: int = 1) -> str:
    return f"<v>{value}</v>"


class TestTheSparseSheet:
    def test_a1_and_xfd1048576_are_refused_before_anything_is_allocated(
        self, tmp_path: Path
    ) -> None:
        path = sparse_sheet(tmp_path / "sparse.xlsx", last_row=1_048_576, last_col=16_384)
        tracemalloc.start()
        started = time.perf_counter()
        try:
            with pytest.raises(UploadRejected) as caught:
                open_table(path, filename="sparse.xlsx")
            elapsed = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert caught.value.code == "file.xlsx_too_large_sheet"
        assert caught.value.status == 413
        assert "A1:XFD1048576" in caught.value.message
        assert elapsed < 1.0
        assert peak < 20_000_000

    def test_the_cells_decide_even_without_a_declared_size(self, tmp_path: Path) -> None:
        data = xlsx_by_hand(f'<row r="1"><c r="A1">{v()}</c></row><row r="900000">'
                            f'<c r="XFD900000">{v()}</c></row>')  # fmt: skip
        error = refusal(written(tmp_path, data))
        assert error.code == "file.xlsx_too_large_sheet"
        assert "its sheet spans A1:XFD900000" in error.message

    def test_a_declared_size_that_understates_the_cells(self, tmp_path: Path) -> None:
        data = xlsx_by_hand(
            f'<row r="1"><c r="A1">{v()}</c></row><row r="5000"><c r="IV5000">{v()}</c></row>',
            dimension="A1:B2",
        )
        limits = XlsxLimits(max_cells=1_000_000)
        assert "A1:IV5000" in refusal(written(tmp_path, data), limits).message

    def test_a_declared_size_too_large_for_the_cells_it_has(self, tmp_path: Path) -> None:
        data = xlsx_by_hand(f'<row r="1"><c r="A1">{v()}</c></row>', dimension="A1:Z2000000")
        error = refusal(written(tmp_path, data))
        assert error.code == "file.xlsx_too_large_sheet"
        assert "declared size" in error.message

    def test_a_smaller_sparse_sheet_within_the_limits_is_read(self, tmp_path: Path) -> None:
        path = sparse_sheet(tmp_path / "sparse.xlsx", last_row=2_000, last_col=10)
        check_workbook(path, name="x", limits=XlsxLimits(max_cells=20_000))
        assert refusal(path, XlsxLimits(max_cells=19_999)).code == "file.xlsx_too_large_sheet"


class TestCellsWrittenOtherwise:
    """Cells without their position first are placed as the reader places them."""

    def test_cells_without_a_position_follow_their_row(self, tmp_path: Path) -> None:
        cells = "".join(f"<c>{v()}</c>" for _ in range(300))
        data = xlsx_by_hand(f'<row r="1"><c r="A1">{v()}</c></row><row r="2">{cells}</row>')
        error = refusal(written(tmp_path, data))
        assert "300 columns (at most 256)" in error.message

    def test_a_row_far_down_without_positioned_cells(self, tmp_path: Path) -> None:
        data = xlsx_by_hand(
            f'<row r="1"><c r="A1">{v()}</c><c r="Z1">{v()}</c></row>'
            f'<row r="1048576"><c>{v()}</c></row>'
        )
        assert refusal(written(tmp_path, data)).code == "file.xlsx_too_large_sheet"

    def test_a_position_hidden_in_another_attribute_is_not_taken(self, tmp_path: Path) -> None:
        data = xlsx_by_hand(
            f'<row r="1"><c r="A1">{v()}</c><c foo=\' r="B1"\' r="XFD1048576">{v()}</c></row>'
        )
        assert "A1:XFD1048576" in refusal(written(tmp_path, data)).message

    def test_a_prefixed_cell_is_a_cell(self, tmp_path: Path) -> None:
        ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
        data = xlsx_by_hand(
            f'<row r="1"><c r="A1">{v()}</c>'
            f'<x:c xmlns:x="{ns}" r="XFD1048576"><x:v>1</x:v></x:c></row>'
        )
        assert "A1:XFD1048576" in refusal(written(tmp_path, data)).message

    def test_a_position_beyond_excels_sheet(self, tmp_path: Path) -> None:
        data = xlsx_by_hand(f'<row r="1"><c r="A1">{v()}</c><c r="AAAAA1">{v()}</c></row>')
        assert refusal(written(tmp_path, data)).code == "file.xlsx_too_large_sheet"

    def test_a_position_the_reader_cannot_read(self, tmp_path: Path) -> None:
        data = xlsx_by_hand(f'<row r="1"><c r="&#65;1">{v()}</c></row>')
        assert refusal(written(tmp_path, data)).code == "file.corrupt"


@st.composite
def sheets(draw: st.DrawFn) -> str:
    """Rows with or without their number, cells with or without their position."""
    rows = []
    for _ in range(draw(st.integers(1, 6))):
        number = draw(st.none() | st.integers(1, 40))
        cells = []
        for _ in range(draw(st.integers(1, 5))):
            if draw(st.booleans()):
                column = draw(st.sampled_from(["A", "B", "H", "Z", "AB", "CV"]))
                cells.append(f'<c r="{column}{draw(st.integers(1, 40))}">{v()}</c>')
            else:
                cells.append(f"<c>{v()}</c>")
        opening = f'<row r="{number}">' if number else "<row>"
        rows.append(opening + "".join(cells) + "</row>")
    return "".join(rows)


class TestSameBoxAsTheReader:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(sheets())
    def test_the_measured_box_is_the_one_calamine_fills(self, sheet_data: str) -> None:
        import tempfile

        with tempfile.TemporaryDirectory() as directory:
            path = written(Path(directory), xlsx_by_hand(sheet_data))
            with CalamineWorkbook.from_path(str(path)) as workbook:
                sheet = workbook.get_sheet_by_index(0)
            assert sheet.start is not None
            assert sheet.end is not None
            area = (sheet.end[0] - sheet.start[0] + 1) * (sheet.end[1] - sheet.start[1] + 1)
            # Cells may share a position: the reader keeps each before it fills the box.
            cells = sheet_data.count("<c")
            check_workbook(
                path, name="x", limits=XlsxLimits(max_columns=16_384, max_cells=max(area, cells))
            )
            narrow = XlsxLimits(max_columns=16_384, max_cells=max(area, cells) - 1)
            expected = "file.xlsx_too_large_sheet" if area > cells else "file.xlsx_too_many_cells"
            assert refusal(path, narrow).code == expected


class TestCounts:
    def test_too_many_cells(self, tmp_path: Path) -> None:
        cells = "".join(f'<c r="A{i}">{v()}</c>' for i in range(1, 101))
        data = xlsx_by_hand(f'<row r="1">{cells}</row>')
        error = refusal(written(tmp_path, data), XlsxLimits(max_cells=50))
        assert error.code == "file.xlsx_too_many_cells"

    def test_too_many_shared_strings(self, tmp_path: Path) -> None:
        data = xlsx_by_hand(f'<row r="1"><c r="A1">{v()}</c></row>', shared=["x"] * 200)
        error = refusal(written(tmp_path, data), XlsxLimits(max_cells=100))
        assert error.code == "file.xlsx_too_many_cells"
        assert "shared strings" in error.message

    def test_too_many_merged_ranges(self, tmp_path: Path) -> None:
        path = tmp_path / "merged.xlsx"
        with zipfile.ZipFile(written(tmp_path, xlsx_by_hand(""), "base.xlsx")) as base:
            parts = {name: base.read(name) for name in base.namelist()}
        ranges = "".join(f'<mergeCell ref="A{i}:B{i}"/>' for i in range(MAX_MERGED_RANGES + 1))
        parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"].replace(
            b"</worksheet>", f"<mergeCells>{ranges}</mergeCells></worksheet>".encode()
        )
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in parts.items():
                archive.writestr(name, data)
        error = refusal(path)
        assert error.code == "file.xlsx_too_many_cells"
        assert "merged ranges" in error.message


def rewrite_header(
    path: Path, member: str, *, size: int | None = None, crc: int | None = None
) -> None:
    """Rewrite what the zip declares of `member` (local and central headers), as a crafted
    zip would: its uncompressed size, or its CRC; its data stay as they are."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        local = archive.getinfo(member).header_offset
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_length] == member.encode():
            break
        central = data.find(b"PK\x01\x02", central + 4)
    assert central != -1
    if size is not None:
        struct.pack_into("<I", data, local + 22, size)
        struct.pack_into("<I", data, central + 24, size)
    if crc is not None:
        struct.pack_into("<I", data, local + 14, crc)
        struct.pack_into("<I", data, central + 16, crc)
    path.write_bytes(bytes(data))


class TestRealSizes:
    def test_a_part_that_unpacks_past_what_the_zip_declares(self, tmp_path: Path) -> None:
        cells = "".join(f'<c r="A{i}" t="inlineStr"><is><t>{i:x}{i * 7919:x}</t></is></c>'
                        for i in range(1, 60_000))  # fmt: skip
        path = written(tmp_path, xlsx_by_hand(f'<row r="1">{cells}</row>'))
        rewrite_header(path, "xl/worksheets/sheet1.xml", size=1_000)
        with zipfile.ZipFile(path) as archive:
            assert archive.getinfo("xl/worksheets/sheet1.xml").file_size == 1_000
        error = refusal(path, XlsxLimits(max_unpacked_bytes=1_000_000))
        assert error.code == "file.xlsx_too_large_unpacked"
        assert "more than 1,000,000 bytes" in error.message

    def test_a_checksum_that_does_not_match(self, tmp_path: Path) -> None:
        path = written(tmp_path, xlsx_by_hand(f'<row r="1"><c r="A1">{v()}</c></row>'))
        rewrite_header(path, "xl/worksheets/sheet1.xml", crc=0x1234_5678)
        assert refusal(path).code == "file.corrupt"


class TestTheSheetWhereverTheWorkbookPutsIt:
    @pytest.mark.parametrize(
        ("sheet_part", "target"),
        [
            ("xl/media/image1.xml", "media/image1.xml"),
            ("xl/media/image1.xml", "/xl/media/image1.xml"),
            ("xl/../sheet.xml", "../sheet.xml"),
            ("xl/media/a b.xml", "media/a b.xml"),
        ],
    )
    def test_the_part_the_workbook_names_is_measured(
        self, tmp_path: Path, sheet_part: str, target: str
    ) -> None:
        cells = f'<row r="1"><c r="A1">{v()}</c></row><row r="9000"><c r="CV9000">{v()}</c></row>'
        path = written(tmp_path, xlsx_by_hand(cells, sheet_part=sheet_part, target=target))
        limits = XlsxLimits(max_cells=100_000)
        assert refusal(path, limits).code == "file.xlsx_too_large_sheet"


class TestWorkbooksAsPeopleMakeThem:
    def test_a_large_picture_beside_the_list(self, tmp_path: Path) -> None:
        import random
        import zlib as deflate

        import xlsxwriter

        # A PNG of noise: 3 MB that no compression shrinks, holding '<' bytes anywhere.
        noise = random.Random(7)
        width = height = 1000
        raw = b"".join(
            b"\x00" + noise.randbytes(width * 3) for _ in range(height)
        )  # filter byte, then RGB

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", deflate.crc32(body))

        header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        png = tmp_path / "logo.png"
        png.write_bytes(
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", deflate.compress(raw))
            + chunk(b"IEND", b"")
        )
        path = tmp_path / "list.xlsx"
        workbook = xlsxwriter.Workbook(str(path))
        sheet = workbook.add_worksheet()
        sheet.write_row(0, 0, ["Номер телефона", "Фамилия"])
        sheet.write_row(1, 0, ["+79120000000", "Иванов"])
        sheet.insert_image("D2", str(png))
        workbook.close()
        check_workbook(path, name="x", limits=XlsxLimits())
