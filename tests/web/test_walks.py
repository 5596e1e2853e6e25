"""Walks through the pages in Chromium, as the people of the registry go through them: the
admin's upload with its error file fixed and sent back, the employee's confirmation (on a
desktop and a phone), the account manager's ranking, the keyboard alone, and no JavaScript.

Each world is built through the API (tests/builders.py); from then on a test only clicks,
types and chooses files in the browser, and screenshots every page it meets.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from playwright.sync_api import Locator, Page, Request, expect

from tests.builders import add_numbers, make_company_with_numbers, make_person, mobile
from tests.conftest import START
from tests.uploads.builders import EMPLOYEE_HEADER, csv_bytes, employee_row
from tests.web.chromium import Screens
from tests.web.conftest import NewContext
from tests.web.test_person_pages import register, run_matching

# An upload runs in a worker process of its own: started after the answer, it reads, checks
# and applies 30 rows within a few seconds even on a loaded machine.
UPLOAD_DONE_MS = 60_000
# A phone's page may be a few pixels wider than its screen for rounding; no more.
PHONE_WIDTH = 390
PHONE_SLACK = 2
# Service starting in five days: the numbers are at risk, their deadline close.
IN_FIVE_DAYS = START.date() + dt.timedelta(days=5)
STAFF_BUTTON = "Войти как сотрудник оператора (staff@demo)"


def admin_button(company: dict[str, Any]) -> str:
    return f"Войти как администратор: {company['name']}"


def person_button(person: dict[str, Any]) -> str:
    subject = person["portal_subject"]
    return f"Войти как {person['last_name']} {person['first_name']} ({subject})"


def click_demo_account(page: Page, shot: Screens, label: str) -> None:
    """On the sign-in page, press a demo account's button."""
    page.goto("/sign-in")
    expect(page.get_by_role("heading", name="Вход", exact=True)).to_be_visible()
    shot("sign-in", page)
    page.get_by_role("button", name=label, exact=True).click()


# The admin's list: 30 rows, three of them bad.
BAD_BIRTH, BAD_PASSPORT, FOREIGN = 3, 8, 12  # rows as the file numbers them (header is 1)


def hr_export(world: dict[str, Any], foreign: str) -> bytes:
    """A Russian HR export of 30 employees (Windows-1251, ';'): a birth date not in the
    calendar, a passport a digit short, and a number the company does not hold."""
    phones = iter(n["msisdn"] for n in world["numbers"])
    rows = []
    for row_no in range(2, 32):
        n = row_no - 2
        if row_no == BAD_BIRTH:
            rows.append(employee_row(next(phones), n=n, birth="31.02.1990"))
        elif row_no == BAD_PASSPORT:
            rows.append(employee_row(next(phones), n=n, passport="45 12 34567"))
        elif row_no == FOREIGN:
            rows.append(employee_row(foreign, n=n))
        else:
            rows.append(employee_row(next(phones), n=n))
    return csv_bytes(EMPLOYEE_HEADER, rows)


def refused_rows(page: Page) -> list[tuple[int, str, str]]:
    """The refused rows table: (row, column, message) per line."""
    table = page.get_by_role("region", name="Отклонённые строки").locator("tbody tr")
    return [
        (int(cells[0]), cells[1], cells[2])
        for cells in (row.locator("td").all_inner_texts() for row in table.all())
    ]


def send_list(page: Page, shot: Screens, company_id: int, path: Path) -> None:
    """From the cabinet, through the nav, choose the file and press «Загрузить»."""
    page.get_by_role("navigation").get_by_role("link", name="Загрузка списков").click()
    expect(page).to_have_url(re.compile(rf"/companies/{company_id}/uploads$"))
    page.get_by_label("Файл списка (CSV или XLSX)").set_input_files(path)
    shot("file chosen", page)
    page.get_by_role("button", name="Загрузить", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/companies/{company_id}/uploads/\d+$"))


def navigations(page: Page) -> list[str]:
    """The addresses of the documents `page` will ask for (a reload included), in order."""
    asked: list[str] = []

    def note(request: Request) -> None:
        if request.is_navigation_request():
            asked.append(request.url)

    page.on("request", note)
    return asked


def watch_until_done(page: Page, shot: Screens, loads: list[str]) -> None:
    """The upload's page with its progress bar, followed (never reloaded here) until the page
    says the upload is done. `loads` lists every page the tab asked for: one that was still
    running when it was first shown must have asked for itself again."""
    expect(page.locator("#upload-progress progress")).to_be_attached()
    running = page.locator("#upload-progress").get_attribute("data-finished") == "false"
    shot("upload running" if running else "upload shown", page)
    expect(page.locator(".status.upload-done")).to_have_text("Готово", timeout=UPLOAD_DONE_MS)
    if running:
        assert loads.count(page.url) >= 2, loads
    expect(page.locator("#upload-progress")).to_have_attribute("data-finished", "true")
    expect(page.locator("#upload-progress progress")).to_be_visible()


def count(page: Page, name: str) -> int:
    return int(re.sub(r"\D", "", page.locator(f'dd[data-field="{name}"]').inner_text()))


def fixed_error_file(data: bytes, foreign_fix: dict[int, dict[str, str]]) -> bytes:
    """The error file with the bad cells corrected, saved in its own encoding and delimiter
    (as Excel keeps a CSV it opened)."""
    bom = data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig") if bom else data.decode("cp1251")
    delimiter = csv.Sniffer().sniff(text.splitlines()[0], delimiters=";,\t").delimiter
    header, *rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    source = header.index("Строка исходного файла")
    for row in rows:
        for title, value in foreign_fix[int(row[source])].items():
            row[header.index(title)] = value
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows([header, *rows])
    return ("\ufeff" + out.getvalue()).encode() if bom else out.getvalue().encode("cp1251")


class TestTheAdminsUpload:
    def test_a_list_with_bad_rows_is_fixed_from_its_error_file_and_accepted(
        self, client: TestClient, page: Page, shot: Screens, tmp_path: Path
    ) -> None:
        world = make_company_with_numbers(client, count=29)
        company = world["company"]
        foreign = mobile(9_990_001)
        source = tmp_path / "сотрудники.csv"
        source.write_bytes(hr_export(world, foreign))

        loads = navigations(page)
        click_demo_account(page, shot, admin_button(company))
        expect(page).to_have_url(re.compile(rf"/companies/{company['id']}$"))
        shot("dashboard", page)
        send_list(page, shot, company["id"], source)
        watch_until_done(page, shot, loads)
        shot("upload done", page)

        assert (count(page, "accepted"), count(page, "rejected")) == (27, 3)
        refused = refused_rows(page)
        assert [(row, column) for row, column, _ in refused] == [
            (BAD_BIRTH, "Дата рождения"),
            (BAD_PASSPORT, "Серия и номер паспорта"),
            (FOREIGN, "Номер телефона"),
        ]
        for _, _, message in refused:
            assert re.search(r"[а-яё]{4}", message), message
        assert "нет в календаре" in refused[0][2]
        with page.expect_download() as downloading:
            page.get_by_role("link", name="Файл ошибок CSV").click()
        download = downloading.value
        assert download.suggested_filename.endswith(".csv")
        error_file = download.path().read_bytes()

        # The operator adds the number the company was missing; the admin fixes the rest.
        add_numbers(client, contract_id=world["contract"]["id"], msisdns=[foreign])
        fixed = tmp_path / "сотрудники-исправлено.csv"
        fixes = {
            BAD_BIRTH: {"Дата рождения": "28.02.1990"},
            BAD_PASSPORT: {"Серия и номер паспорта": "45 12 345678"},
            FOREIGN: {},
        }
        fixed.write_bytes(fixed_error_file(error_file, fixes))
        send_list(page, shot, company["id"], fixed)
        watch_until_done(page, shot, loads)
        shot("fixed file done", page)

        assert (count(page, "accepted"), count(page, "rejected")) == (3, 0)
        expect(page.get_by_role("region", name="Отклонённые строки")).to_have_count(0)
        page.get_by_role("link", name="Сводка").click()
        expect(page.locator("h1")).to_contain_text(company["name"])
        shot("dashboard after", page)


class TestTheEmployee:
    def test_the_employee_confirms_their_number_and_sees_it_active(
        self, client: TestClient, page: Page, shot: Screens
    ) -> None:
        person = make_person(client)
        world = make_company_with_numbers(client, count=2, starts_on=IN_FIVE_DAYS)
        msisdn = register(client, world, 0)
        assert run_matching(client, world)["requests_sent"] == 1

        click_demo_account(page, shot, person_button(person))
        expect(page).to_have_url(re.compile(r"/me$"))
        expect(page.get_by_role("heading", name="Мои номера", level=1)).to_be_visible()
        numbers = page.get_by_role("region", name="Номера, зарегистрированные на вас")
        expect(numbers).to_contain_text(msisdn)
        expect(numbers).to_contain_text("Подтвердите на Госуслугах")
        shot("my numbers", page)
        waiting = page.locator("ul.requests li").filter(has_text=msisdn)
        waiting.get_by_role("button", name="Подтвердить").click()

        expect(page.get_by_role("status")).to_contain_text(
            f"Вы подтвердили, что пользуетесь номером {msisdn}"
        )
        shot("confirmed", page)
        assert run_matching(client, world)["confirmed_active"] == 1
        page.reload()

        row = numbers.locator("tbody tr").filter(has_text=msisdn)
        expect(row.locator("td.state")).to_have_text("Номер зарегистрирован на вас и подтверждён.")
        expect(page.get_by_role("button", name="Подтвердить")).to_have_count(0)
        expect(page.get_by_role("status")).to_have_count(0)  # the outcome was told once
        shot("active", page)

    def test_my_numbers_fit_a_phone(
        self, client: TestClient, phone_page: Page, shot: Screens
    ) -> None:
        person = make_person(client)
        world = make_company_with_numbers(client, count=2, starts_on=IN_FIVE_DAYS)
        msisdn = register(client, world, 0)
        run_matching(client, world)

        click_demo_account(phone_page, shot, person_button(person))
        expect(phone_page.get_by_role("heading", name="Мои номера", level=1)).to_be_visible()
        expect(phone_page.locator("table.stack tbody")).to_contain_text(msisdn)

        assert page_width(phone_page) <= PHONE_WIDTH + PHONE_SLACK
        shot("my numbers on a phone", phone_page)


def sideways_overflow(box: Locator) -> int:
    """How many pixels of `box` hide off to the side (a table scrolled within its frame)."""
    hidden: int = box.evaluate("element => element.scrollWidth - element.clientWidth")
    return hidden


def set_contact(client: TestClient, world: dict[str, Any], email: str) -> None:
    response = client.put(
        f"/api/v1/companies/{world['company']['id']}/notification-settings",
        json={"notify_email": email},
        headers=world["admin"],
    )
    assert response.status_code == 200, response.text


def page_width(page: Page) -> int:
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return width


class TestTheAccountManager:
    def test_the_riskier_company_comes_first_and_its_cabinet_opens(
        self, client: TestClient, page: Page, shot: Screens
    ) -> None:
        calm = make_company_with_numbers(client, count=1)["company"]
        world = make_company_with_numbers(client, count=4, starts_on=IN_FIVE_DAYS)
        risky = world["company"]
        set_contact(client, world, "sim-admin@romashka-holding.example")

        click_demo_account(page, shot, STAFF_BUTTON)
        expect(page).to_have_url(re.compile(r"/staff$"))
        expect(page.get_by_role("heading", name="Компании под угрозой")).to_be_visible()
        shot("ranking", page)
        assert sideways_overflow(page.locator(".table-wrap")) == 0
        names = page.locator("tbody th[scope=row] a").all_inner_texts()
        assert names == [risky["name"], calm["name"]]
        page.get_by_role("link", name=risky["name"], exact=True).click()

        expect(page).to_have_url(re.compile(rf"/companies/{risky['id']}$"))
        expect(page.locator("h1")).to_have_text(f"Сводка: {risky['name']}")
        at_risk = page.locator(".card").filter(has_text="Под угрозой приостановки")
        expect(at_risk.locator(".figure")).to_have_text("4")
        expect(at_risk).to_contain_text("До ближайшего срока")
        shot("riskier company", page)


def tab_to(page: Page, label: str, *, presses: int = 80) -> None:
    """Press Tab until the element named `label` (its text or its label) has the focus."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement;"
            " return (e.labels && e.labels[0] ? e.labels[0].innerText : e.innerText) || ''; }"
        )
        if focused.strip() == label:
            return
    raise AssertionError(f"{label!r} is not reachable with Tab")


class TestTheKeyboardAlone:
    def test_sign_in_and_a_claim_without_the_mouse(
        self, client: TestClient, page: Page, shot: Screens
    ) -> None:
        world = make_company_with_numbers(client, count=1)
        person = make_person(client)
        msisdn = world["numbers"][0]["msisdn"]
        page.goto("/sign-in")
        shot("sign-in", page)

        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="К содержанию")).to_be_focused()
        tab_to(page, person_button(person))
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/me$"))
        shot("my numbers", page)
        tab_to(page, "Номер телефона")
        page.keyboard.type(msisdn)
        page.keyboard.press("Tab")
        page.keyboard.type(world["company"]["inn"])
        page.keyboard.press("Tab")
        page.keyboard.type(world["company"]["name"])
        shot("claim typed", page)
        page.keyboard.press("Enter")

        expect(page.get_by_role("status")).to_have_text(
            f"Заявка на номер {msisdn} подана и ждёт решения администратора компании."
        )
        claims = page.get_by_role("region", name="Ваши прежние заявки и ответы")
        expect(claims).to_contain_text("Ждёт решения компании")
        shot("claim sent", page)


class TestWithoutJavaScript:
    def test_an_upload_page_refreshes_itself_until_done(
        self,
        client: TestClient,
        new_context: NewContext,
        live_server: str,
        shot: Screens,
        tmp_path: Path,
    ) -> None:
        world = make_company_with_numbers(client, count=29)
        company = world["company"]
        source = tmp_path / "list.csv"
        source.write_bytes(hr_export(world, mobile(9_990_002)))
        page = new_context(base_url=live_server, java_script_enabled=False).new_page()
        loads = navigations(page)

        click_demo_account(page, shot, admin_button(company))
        send_list(page, shot, company["id"], source)
        watch_until_done(page, shot, loads)
        shot("upload done", page)

        assert (count(page, "accepted"), count(page, "rejected")) == (27, 3)
        expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(0)
