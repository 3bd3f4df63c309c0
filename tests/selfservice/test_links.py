"""Links straight to his booking: `/book?ref=REF` fills in the reference, `&then=pay` opens the
fee part of his course page once he has signed in; anything else in the link is ignored."""

from __future__ import annotations

import pytest

from tests.builders import known_referral
from tests.selfservice.helpers import details, sign_in

pytestmark = pytest.mark.usefixtures("clock")

FEE_PART = "/book/your-course#fee"


def reference_value(page: str) -> str:
    start = page.index('id="reference"')
    tag = page[page.rindex("<input", 0, start):page.index(">", start)]
    return tag.split('value="')[1].split('"')[0]


def test_the_link_fills_in_his_reference_but_not_his_pin_or_date_of_birth(client):
    known = known_referral()
    page = client.get(f"/book?ref={known.reference.lower()}").get_data(as_text=True)
    assert reference_value(page) == known.reference
    assert 'name="then"' not in page
    assert known.pin not in page


@pytest.mark.parametrize("ref", [
    '"><script>alert(1)</script>', "A" * 200, "ABC", "../../etc", "%00",
    "ACDE3467?then=https://evil.example",
])
def test_a_hostile_reference_in_the_link_is_ignored_never_reflected(client, ref):
    response = client.get("/book", query_string={"ref": ref})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert reference_value(page) == ""
    assert "<script>alert" not in page and "evil.example" not in page


def test_a_nul_in_the_link_is_ignored_as_every_control_character_is(client):
    # A NUL in a query string's value reaches the page as U+001A (core/web.py): a reference
    # holding a control character names no one, so the box is left empty, nothing reflected.
    response = client.get("/book", query_string={"ref": "ACDE3467\x00"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert reference_value(page) == ""
    assert "\x00" not in page and "\x1a" not in page


@pytest.mark.parametrize("then", ["https://evil.example", "//evil.example", "/admin", "PAY",
                                  "pay\r\nLocation: x", "overview"])
def test_only_pay_is_kept_as_where_to_go_next(client, then):
    known = known_referral()
    page = client.get("/book", query_string={"ref": known.reference, "then": then}).get_data(as_text=True)
    assert 'name="then"' not in page and "evil.example" not in page
    response = client.post("/book", data={**details(known), "then": then})
    assert response.status_code == 302
    assert response.headers["Location"] == "/book/your-course"


def test_then_pay_opens_the_fee_part_after_sign_in_and_survives_a_wrong_try(client):
    known = known_referral()
    page = client.get(f"/book?ref={known.reference}&then=pay").get_data(as_text=True)
    assert '<input type="hidden" name="then" value="pay">' in page
    assert 'action="/book"' in page  # the query string is not what carries `then`

    wrong = client.post("/book", data={**details(known, pin="000000"), "then": "pay"})
    assert wrong.status_code == 200
    assert '<input type="hidden" name="then" value="pay">' in wrong.get_data(as_text=True)

    right = client.post("/book", data={**details(known), "then": "pay"})
    assert right.status_code == 302 and right.headers["Location"] == FEE_PART
    fee_part = client.get(right.headers["Location"]).get_data(as_text=True)
    assert 'id="fee"' in fee_part


def test_already_signed_in_as_him_the_link_goes_straight_to_his_page(client):
    known = known_referral()
    assert sign_in(client, known).status_code == 302
    straight = client.get(f"/book?ref={known.reference}&then=pay")
    assert straight.status_code == 302 and straight.headers["Location"] == FEE_PART
    plain = client.get(f"/book?ref={known.reference}")
    assert plain.status_code == 302 and plain.headers["Location"] == "/book/your-course"


def test_signed_in_as_someone_else_the_link_asks_for_the_details(client):
    mine, other = known_referral(), known_referral()
    assert sign_in(client, mine).status_code == 302
    response = client.get(f"/book?ref={other.reference}&then=pay")
    assert response.status_code == 200
    assert reference_value(response.get_data(as_text=True)) == other.reference


@pytest.mark.parametrize("ref", ["ACDE3467\x00", "ACD", "x" * 5000, "\u00b2", "3000000000" * 3])
def test_a_reference_in_the_link_that_is_not_one_gets_the_words_for_a_reference_not_valid(
        client, ref):
    response = client.get("/book", query_string={"ref": ref})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<title>Error: Book your course" in page
    summary = page[page.index("govuk-error-summary"):]
    assert ('<a href="#reference">Reference must be 8 letters and numbers, like ACDE3467</a>'
            in summary[:summary.index("</ul>")])
    assert reference_value(page) == ""
    assert "\x00" not in page and "\x1a" not in page


def test_a_blank_reference_in_the_link_is_no_error(client):
    page = client.get("/book?ref=").get_data(as_text=True)
    assert "govuk-error-summary" not in page
