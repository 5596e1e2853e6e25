"""Uploading a list through the form: a Russian Excel CSV with good and bad rows, its refused
rows on the upload's page in words, the error file fixed and sent back, accepted."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from fastapi.testclient import TestClient

from app.core.messages import say
from app.uploads.models import UploadStatus
from app.uploads.schemas import Counts, Progress, UploadOut
from app.web.admin.upload import progress_of
from tests.uploads.builders import EMPLOYEE_HEADER, csv_bytes, employee_row
from tests.web.signing import csrf_of, sign_in


def _send(
    client: TestClient, company_id: int, content: bytes, mode: str, *, key: str | None = None
) -> Any:
    """Send a file as the uploads page's form does (its CSRF token and idempotency key)."""
    page = client.get(f"/companies/{company_id}/uploads").text
    found = re.search(r'name="idempotency_key" value="([^"]+)"', page)
    assert found
    return client.post(
        f"/companies/{company_id}/uploads",
        data={"csrf": csrf_of(page), "mode": mode, "idempotency_key": key or found.group(1)},
        files={"file": ("сотрудники.csv", content, "text/csv")},
        follow_redirects=False,
    )


def _bad_list(world: dict[str, Any]) -> bytes:
    phones = [n["msisdn"] for n in world["numbers"]]
    rows = [
        employee_row(phones[0], n=0),
        employee_row(phones[1], n=1, birth="31.02.1990"),
        employee_row(phones[2], n=2, code="77-001"),
    ]
    return csv_bytes(EMPLOYEE_HEADER, rows)  # Windows-1251, ';'


class TestTheUploadForm:
    def test_the_page_offers_the_form_and_the_templates(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        sign_in(client, "company_admin", company_id=world["company"]["id"])
        page = client.get(f"/companies/{world['company']['id']}/uploads")
        assert page.status_code == 200
        assert 'enctype="multipart/form-data"' in page.text
        assert ">Проверить</button>" in page.text
        assert ">Загрузить</button>" in page.text
        assert '<label for="file">Файл списка (CSV или XLSX)</label>' in page.text
        template = client.get("/api/v1/upload-templates/employees.csv")
        assert template.status_code == 200  # no sign-in needed: the link works for anyone

    def test_refused_rows_are_worded_and_the_fixed_error_file_is_accepted(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        company_id = world["company"]["id"]
        sign_in(client, "company_admin", company_id=company_id)

        sent = _send(client, company_id, _bad_list(world), "apply")

        assert sent.status_code == 303
        upload_path = sent.headers["location"]
        assert re.fullmatch(rf"/companies/{company_id}/uploads/\d+", upload_path)
        page = client.get(upload_path).text
        assert "Файл «сотрудники.csv»" in page
        assert re.search(r'data-field="accepted">1<', page)
        assert re.search(r'data-field="rejected">2<', page)
        assert (
            "<td>3</td><td>Дата рождения</td>"
            "<td>Даты в столбце «Дата рождения» нет в календаре; проверьте день и месяц.</td>"
        ) in page
        assert (
            "<td>4</td><td>Код подразделения</td><td>В коде подразделения (столбец «Код "
            "подразделения») должно быть 6 цифр"
        ) in page
        assert "31.02.1990" not in page  # a refused row's cells stay in its error file
        assert 'http-equiv="refresh"' not in page  # finished: no more refreshing
        assert "/static/progress.js" not in page
        assert "errors.csv" in page
        assert "errors.xlsx" in page
        assert "отправьте его как есть через ту же форму загрузки" in page

        errors = client.get(upload_path + "/errors.csv")
        assert errors.status_code == 200
        table = list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig")), delimiter=";"))
        header, *rows = table
        assert len(rows) == 2
        fixes = {"3": {"Дата рождения": "28.02.1990"}, "4": {"Код подразделения": "770-001"}}
        source = header.index("Строка исходного файла")
        for row in rows:
            for title, value in fixes[row[source]].items():
                row[header.index(title)] = value
        out = io.StringIO()
        csv.writer(out, delimiter=";", lineterminator="\r\n").writerows([header, *rows])

        again = _send(client, company_id, ("\ufeff" + out.getvalue()).encode(), "apply")

        assert again.status_code == 303
        fixed = client.get(again.headers["location"]).text
        assert re.search(r'data-field="accepted">2<', fixed)
        assert re.search(r'data-field="rejected">0<', fixed)
        assert "Отклонённые строки" not in fixed

    def test_a_second_press_of_the_button_uploads_once(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        company_id = world["company"]["id"]
        sign_in(client, "company_admin", company_id=company_id)
        content = _bad_list(world)

        first = _send(client, company_id, content, "validate", key="same-form")
        second = _send(client, company_id, content, "validate", key="same-form")

        assert first.headers["location"] == second.headers["location"]
        listed = client.get(f"/companies/{company_id}/uploads").text
        assert listed.count("сотрудники.csv</a>") == 1
        assert "Проверка" in listed

    def test_the_progress_route_answers_for_the_script(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        company_id = world["company"]["id"]
        sign_in(client, "company_admin", company_id=company_id)
        sent = _send(client, company_id, _bad_list(world), "validate")

        progress = client.get(sent.headers["location"] + "/progress").json()

        assert progress["finished"] is True
        assert (progress["rows_read"], progress["rows_total"]) == (3, 3)
        assert (progress["accepted"], progress["rejected"]) == (1, 2)
        assert progress["progress_text"] == "Обработано строк: 3 из 3"
        page = client.get(sent.headers["location"]).text
        assert "Это была проверка: в реестре ничего не изменилось." in page

    def test_a_file_that_is_not_a_list_is_told_on_its_page(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        company_id = world["company"]["id"]
        sign_in(client, "company_admin", company_id=company_id)
        sent = _send(client, company_id, "просто текст".encode("cp1251"), "apply")
        page = client.get(sent.headers["location"]).text
        assert "Загрузка не удалась:" in page


class TestTheProgressWords:
    def _upload(self, status: UploadStatus, read: int, total: int) -> UploadOut:
        return UploadOut.model_construct(
            status=status,
            status_text="",
            progress=Progress(rows_read=read, rows_total=total, percent=0.0),
            counts=Counts(accepted=0, rejected=0, created=0, unchanged=0, superseded=0),
        )

    def test_rows_not_yet_counted_are_not_called_none(self) -> None:
        shown = progress_of(self._upload(UploadStatus.RECEIVED, 0, 0), "ru")
        assert shown["progress_text"] == say("page.admin.upload.progress_counting")
        assert "0 из 0" not in shown["progress_text"]

    def test_counted_rows_and_an_empty_file_once_done(self) -> None:
        running = progress_of(self._upload(UploadStatus.VALIDATING, 1000, 30000), "ru")
        assert running["progress_text"] == "Обработано строк: 1\u202f000 из 30\u202f000"
        done = progress_of(self._upload(UploadStatus.DONE, 0, 0), "ru")
        assert done["progress_text"] == "Обработано строк: 0 из 0"
