"""Administration pages: users, forces, API tokens and the audit log."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from diversion.audit.models import AuditEvent
from diversion.auth.models import ApiToken, Force, Role, User
from diversion.auth.services import hash_token
from diversion.core.extensions import db
from tests.builders import DEFAULT_PASSWORD, create_force, create_user

NEW_PASSWORD = "a sensible long passphrase"


@pytest.fixture
def admin(app, login_as):
    return login_as("admin")


def _audit(action: str) -> AuditEvent | None:
    db.session.expire_all()
    return db.session.scalar(select(AuditEvent).where(AuditEvent.action == action)
                             .order_by(AuditEvent.id.desc()))


def test_an_administrator_adds_a_police_officer_in_a_force(client, admin):
    force = create_force("WYP", "West Yorkshire Police")
    db.session.commit()
    response = client.post("/admin/users/new", data={
        "name": "PC Sam Jones", "email": "Sam.Jones@WYP.example", "role": "police",
        "force": "WYP", "password": NEW_PASSWORD})
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "sam.jones@wyp.example"))
    assert user.role is Role.POLICE and user.force_id == force.id
    event = _audit("user.create")
    assert event.actor_user_id == admin.id and event.object_id == str(user.id)
    assert NEW_PASSWORD not in str(event.details)
    assert "Account created for PC Sam Jones" in client.get("/admin/users").get_data(as_text=True)


def test_adding_a_police_officer_without_a_force_shows_an_error_summary(client, admin):
    response = client.post("/admin/users/new", data={
        "name": "PC No Force", "email": "noforce@example.test", "role": "police", "force": "",
        "password": NEW_PASSWORD})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "govuk-error-summary" in page
    assert "Select the police force this officer belongs to" in page
    assert page.count("<title>Error:") == 1
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


@pytest.mark.parametrize(("password", "message"), [
    ("short", "Password must be 12 characters or more"),
    ("password1234", "Password is too common"),
])
def test_a_weak_password_for_a_new_user_is_refused_with_the_reason(client, admin, password, message):
    response = client.post("/admin/users/new", data={
        "name": "Weak Password", "email": "weak@example.test", "role": "manager", "force": "",
        "password": password})
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == "weak@example.test")) is None


def test_a_duplicate_email_and_blank_fields_are_refused_with_messages(client, admin):
    response = client.post("/admin/users/new", data={
        "name": "", "email": admin.email, "role": "manager", "force": "", "password": NEW_PASSWORD})
    page = response.get_data(as_text=True)
    assert "Enter the person&#39;s full name" in page or "Enter the person's full name" in page
    response = client.post("/admin/users/new", data={
        "name": "Copy", "email": admin.email.upper(), "role": "manager", "force": "",
        "password": NEW_PASSWORD})
    assert "An account with this email address already exists" in response.get_data(as_text=True)


def test_an_administrator_edits_a_users_details(client, admin):
    user = create_user("manager", name="Old Name")
    db.session.commit()
    page = client.get(f"/admin/users/{user.id}").get_data(as_text=True)
    assert "Old Name" in page
    response = client.post(f"/admin/users/{user.id}", data={
        "name": "New Name", "email": user.email, "role": "manager", "force": ""})
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.name == "New Name"
    assert _audit("user.update").details == {"changed": ["name"]}


def test_an_administrator_cannot_remove_their_own_admin_role(client, admin):
    response = client.post(f"/admin/users/{admin.id}", data={
        "name": admin.name, "email": admin.email, "role": "manager", "force": ""})
    assert "You cannot remove your own administrator role" in response.get_data(as_text=True)
    db.session.refresh(admin)
    assert admin.role is Role.ADMIN


def test_editing_a_user_that_does_not_exist_is_not_found(client, admin):
    assert client.get("/admin/users/999999").status_code == 404


def test_deactivating_and_reactivating_a_user_is_audited(client, admin):
    user = create_user("facilitator")
    db.session.commit()
    client.post(f"/admin/users/{user.id}/active", data={"active": "no"})
    db.session.refresh(user)
    assert not user.is_active_account
    assert _audit("user.deactivate").object_id == str(user.id)
    page = client.get(f"/admin/users/{user.id}").get_data(as_text=True)
    assert "Reactivate account" in page
    client.post(f"/admin/users/{user.id}/active", data={"active": "yes"})
    db.session.refresh(user)
    assert user.is_active_account
    assert _audit("user.activate") is not None


def test_an_administrator_cannot_deactivate_themselves(client, admin):
    response = client.post(f"/admin/users/{admin.id}/active", data={"active": "no"},
                           follow_redirects=True)
    assert "You cannot deactivate your own account" in response.get_data(as_text=True)
    db.session.refresh(admin)
    assert admin.is_active_account


def test_resetting_a_password_is_audited_and_a_weak_one_is_refused(client, admin):
    user = create_user("manager")
    db.session.commit()
    response = client.post(f"/admin/users/{user.id}/password", data={"password": "tooshort"})
    page = response.get_data(as_text=True)
    assert "govuk-error-summary" in page and "Password must be 12 characters or more" in page
    assert _audit("user.password_reset") is None
    response = client.post(f"/admin/users/{user.id}/password", data={"password": NEW_PASSWORD})
    assert response.status_code == 302
    assert _audit("user.password_reset").object_id == str(user.id)


def test_an_administrator_adds_a_force_and_a_duplicate_code_is_refused(client, admin):
    response = client.post("/admin/forces", data={"code": "nyp", "name": "North Yorkshire Police"})
    assert response.status_code == 302
    assert db.session.scalar(select(Force.name).where(Force.code == "NYP")) == "North Yorkshire Police"
    response = client.post("/admin/forces", data={"code": "NYP", "name": "Again"})
    page = response.get_data(as_text=True)
    assert "govuk-error-summary" in page and "A force with code NYP already exists" in page
    response = client.post("/admin/forces", data={"code": "", "name": ""})
    assert "Enter a force code" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Force)) == 1


def _token_on_page(page: str) -> str | None:
    match = re.search(r'id="new-token">([^<]+)<', page)
    return match.group(1) if match else None


def test_a_new_token_is_shown_once_stored_hashed_and_works(client, admin):
    officer = create_user("police")
    db.session.commit()
    page = client.post("/admin/tokens", data={"user": str(officer.id)},
                       follow_redirects=True).get_data(as_text=True)
    clear = _token_on_page(page)
    assert clear and clear.startswith("dvn_")
    stored = db.session.scalar(select(ApiToken).where(ApiToken.user_id == officer.id))
    assert stored.token_hash == hash_token(clear) and clear not in stored.token_hash
    assert clear not in client.get("/admin/tokens").get_data(as_text=True)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {clear}"})
    assert me.status_code == 200 and me.json["email"] == officer.email
    assert _audit("token.create") is not None


def test_reloading_the_page_that_shows_a_new_token_makes_no_other_and_says_it_is_gone(
        client, admin):
    officer = create_user("police")
    db.session.commit()
    response = client.post("/admin/tokens", data={"user": str(officer.id)})
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == officer.id))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/tokens?created={token.id}"
    with client.session_transaction() as cookie:
        held = str(dict(cookie))
    shown = client.get(response.headers["Location"]).text
    clear = _token_on_page(shown)
    assert clear and clear.startswith("dvn_") and token.token_hash == hash_token(clear)
    assert clear not in held and clear.removeprefix("dvn_") not in held  # sealed in the cookie

    reloaded = client.get(response.headers["Location"])
    assert reloaded.status_code == 200
    assert clear not in reloaded.text and _token_on_page(reloaded.text) is None
    assert "can no longer be shown" in reloaded.text
    assert f'href="/admin/tokens/{token.id}/revoke"' in reloaded.text
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 1


def test_a_held_token_is_shown_only_on_its_own_page_and_only_for_ten_minutes(
        client, admin, clock):
    officer, other = create_user("police"), create_user("police")
    db.session.commit()
    location = client.post("/admin/tokens", data={"user": str(officer.id)}).headers["Location"]
    clock.advance(minutes=11)
    late = client.get(location).text
    assert _token_on_page(late) is None and "can no longer be shown" in late
    location = client.post("/admin/tokens", data={"user": str(other.id)}).headers["Location"]
    first_id = location.rsplit("=", 1)[1]
    elsewhere = client.get(location.replace(f"={first_id}", f"={int(first_id) - 1}")).text
    assert _token_on_page(elsewhere) is None
    assert (_token_on_page(client.get(location).text) or "").startswith("dvn_")


def test_a_revoked_token_gets_401_on_the_api(client, admin):
    officer = create_user("police")
    db.session.commit()
    clear = _token_on_page(client.post("/admin/tokens", data={"user": str(officer.id)},
                                       follow_redirects=True).get_data(as_text=True))
    token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == officer.id))
    response = client.post(f"/admin/tokens/{token_id}/revoke")
    assert response.status_code == 302
    assert "Revoked" in client.get("/admin/tokens").get_data(as_text=True)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {clear}"})
    assert me.status_code == 401
    assert _audit("token.revoke") is not None


def test_a_token_given_30_days_stops_working_on_the_31st_and_says_so(app, client, auth, clock):
    admin, officer = create_user("admin"), create_user("police")
    db.session.commit()
    auth.login(admin.email)
    clear = _token_on_page(client.post("/admin/tokens", data={
        "user": str(officer.id), "expires": "30"}, follow_redirects=True).get_data(as_text=True))
    stored = db.session.scalar(select(ApiToken).where(ApiToken.user_id == officer.id))
    assert stored.expires_at == stored.created_at + dt.timedelta(days=30)
    assert _audit("token.create").details["expires_in_days"] == 30
    listing = client.get("/admin/tokens").text
    assert "15 July 2026" in listing and "Expired" not in listing
    bearer = {"Authorization": f"Bearer {clear}"}
    clock.advance(days=29, hours=23)
    assert client.get("/api/v1/me", headers=bearer).status_code == 200
    clock.advance(hours=1)
    refused = client.get("/api/v1/me", headers=bearer)
    assert refused.status_code == 401
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    browser = app.test_client()  # the admin's own sign-in ended long ago: a new one
    assert browser.post("/sign-in", data={"email": admin.email,
                                          "password": DEFAULT_PASSWORD}).status_code == 302
    listing = browser.get("/admin/tokens").text
    assert "Expired" in listing and "Never" not in listing  # listed with its last use


def test_a_new_token_works_for_90_days_unless_told_otherwise(client, admin):
    officer, analyst = create_user("police"), create_user("police")
    db.session.commit()
    form = client.get("/admin/tokens").text
    assert re.search(r'<input[^>]*name="expires"[^>]*value="90"[^>]*checked', form)
    client.post("/admin/tokens", data={"user": str(officer.id)})
    client.post("/admin/tokens", data={"user": str(analyst.id), "expires": "never"})
    lasting = {token.user_id: token.expires_at and token.expires_at - token.created_at
               for token in db.session.scalars(select(ApiToken))}
    assert lasting == {officer.id: dt.timedelta(days=90), analyst.id: None}
    assert "No expiry" in client.get("/admin/tokens").text


def test_a_token_lifetime_that_is_not_offered_is_refused_with_a_message(client, admin):
    officer = create_user("police")
    db.session.commit()
    page = client.post("/admin/tokens", data={"user": str(officer.id), "expires": "99999"})
    assert page.status_code == 200 and "govuk-error-summary" in page.text
    assert _token_on_page(page.text) is None
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_creating_a_token_without_choosing_an_account_shows_an_error(client, admin):
    page = client.post("/admin/tokens", data={"user": ""}).get_data(as_text=True)
    assert "Select the account the token acts as" in page
    assert _token_on_page(page) is None


def test_revoking_a_token_that_does_not_exist_is_not_found(client, admin):
    assert client.post("/admin/tokens/999999/revoke").status_code == 404


def test_the_audit_log_lists_events_newest_first_and_filters_by_action(client, admin):
    user = create_user("manager")
    db.session.commit()
    client.post(f"/admin/users/{user.id}/active", data={"active": "no"})
    page = client.get("/admin/audit").get_data(as_text=True)
    assert page.index("Deactivated an account") < page.index("Signed in")
    assert page.index("user.deactivate") < page.index("auth.sign_in")
    filtered = client.get("/admin/audit?action=user.").get_data(as_text=True)
    assert "user.deactivate" in filtered and "auth.sign_in<" not in filtered
    assert "Signed in<br>" not in filtered and "Deactivated an account<br>" in filtered
    assert client.get("/admin/audit?before=notanumber").status_code == 404


def test_revoking_a_token_is_checked_first_naming_it_its_account_and_last_use(client, admin):
    officer = create_user("police", name="PC Token Owner")
    db.session.commit()
    client.post("/admin/tokens", data={"user": str(officer.id)})
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == officer.id))
    listing = client.get("/admin/tokens").text
    assert f'href="/admin/tokens/{token.id}/revoke"' in listing
    assert f'action="/admin/tokens/{token.id}/revoke"' not in listing

    check = client.get(f"/admin/tokens/{token.id}/revoke")

    assert check.status_code == 200
    assert "Revoke this API token?" in check.text
    assert token.prefix in check.text and "PC Token Owner" in check.text
    assert "Last used" in check.text and "Never" in check.text
    db.session.expire_all()
    assert token.revoked_at is None
    assert client.post(f"/admin/tokens/{token.id}/revoke").status_code == 302
    db.session.expire_all()
    assert token.revoked_at is not None


def test_deactivating_an_account_is_checked_first(client, admin):
    user = create_user("facilitator", name="Fay Facilitator")
    db.session.commit()
    page = client.get(f"/admin/users/{user.id}").text
    assert f'href="/admin/users/{user.id}/active"' in page

    check = client.get(f"/admin/users/{user.id}/active")

    assert check.status_code == 200
    assert "Deactivate this account?" in check.text and "Fay Facilitator" in check.text
    db.session.refresh(user)
    assert user.is_active_account


def _police_account(**overrides: str) -> dict[str, str]:
    return {"name": "PC Sam Jones", "email": "sam.jones@wyp.police.example", "role": "police",
            "force": "SYP", "password": NEW_PASSWORD, **overrides}


def test_an_address_outside_the_forces_domain_is_warned_and_needs_a_confirmation(client, admin):
    force = create_force("SYP", "South Yorkshire Police")
    force.email_domain = "syp.police.example"
    db.session.commit()

    warned = client.post("/admin/users/new", data=_police_account())

    page = warned.text
    assert "data-domain-warning" in page and "@syp.police.example" in page
    assert 'href="#domain_checked"' in page  # in the error summary, linked to the box
    assert db.session.scalar(select(User).where(User.email == "sam.jones@wyp.police.example")) is None

    saved = client.post("/admin/users/new", data=_police_account(domain_checked="y"))

    assert saved.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "sam.jones@wyp.police.example"))
    assert user is not None and user.force_id == force.id
    assert _audit("user.create").details["email_domain_checked"] is True


def test_an_address_in_the_forces_domain_or_a_force_without_one_needs_no_confirmation(
        client, admin):
    syp = create_force("SYP", "South Yorkshire Police")
    syp.email_domain = "syp.police.example"
    create_force("NPT", "Nowhere Police")
    db.session.commit()

    inside = client.post("/admin/users/new", data=_police_account(
        email="a.b@ops.syp.police.example"))
    no_domain = client.post("/admin/users/new", data=_police_account(
        email="c.d@anything.example", force="NPT"))

    assert inside.status_code == 302 and no_domain.status_code == 302


def test_editing_an_officer_into_another_forces_domain_is_warned(client, admin):
    syp = create_force("SYP", "South Yorkshire Police")
    syp.email_domain = "syp.police.example"
    officer = create_user("police", force=syp, email="pc@syp.police.example")
    db.session.commit()

    warned = client.post(f"/admin/users/{officer.id}", data={
        "name": officer.name, "email": "pc@wyp.police.example", "role": "police", "force": "SYP"})

    assert "data-domain-warning" in warned.text
    db.session.refresh(officer)
    assert officer.email == "pc@syp.police.example"
    confirmed = client.post(f"/admin/users/{officer.id}", data={
        "name": officer.name, "email": "pc@wyp.police.example", "role": "police", "force": "SYP",
        "domain_checked": "y"})
    assert confirmed.status_code == 302
    db.session.refresh(officer)
    assert officer.email == "pc@wyp.police.example"


def test_an_administrator_sets_a_forces_email_domain(client, admin):
    force = create_force("SYP", "South Yorkshire Police")
    db.session.commit()
    assert f'href="/admin/forces/{force.id}"' in client.get("/admin/forces").text

    bad = client.post(f"/admin/forces/{force.id}", data={"email_domain": "not a domain"})
    assert "Enter a domain like" in bad.text
    saved = client.post(f"/admin/forces/{force.id}", data={"email_domain": "@SYP.Police.Example"})

    assert saved.status_code == 302
    db.session.refresh(force)
    assert force.email_domain == "syp.police.example"
    assert _audit("force.update").object_id == str(force.id)
    assert "@syp.police.example" in client.get("/admin/forces").text
    assert client.get("/admin/forces/999999").status_code == 404


def _summary(page: str) -> list[str]:
    summary = page.split('class="govuk-error-summary', 1)[1].split("</ul>", 1)[0]
    return re.findall(r'<a href="#[^"]+">([^<]+)</a>', summary)


def test_adding_a_user_reports_every_problem_in_one_round(client, admin):
    """A blank name must not hide the missing force, the weak password or the taken address:
    the administrator fixes them all at once, not one round each."""
    create_user("police", email="taken@wyp.example")
    db.session.commit()
    response = client.post("/admin/users/new", data={
        "name": "", "email": " Taken@WYP.example ", "role": "police", "force": "",
        "password": "short"})
    page = response.get_data(as_text=True)
    assert page.count("<title>Error:") == 1
    assert _summary(page) == ["Enter the person&#39;s full name",
                              "An account with this email address already exists",
                              "Select the police force this officer belongs to",
                              "Password must be 12 characters or more"]
    assert 'value=" Taken@WYP.example "' in page or 'value="Taken@WYP.example"' in page


def test_editing_a_user_reports_every_problem_in_one_round(client, admin):
    create_user("facilitator", email="taken@example.test")
    officer = create_user("police", email="officer@example.test")
    db.session.commit()
    response = client.post(f"/admin/users/{officer.id}", data={
        "name": "", "email": "taken@example.test", "role": "police", "force": ""})
    page = response.get_data(as_text=True)
    assert _summary(page) == ["Enter the person&#39;s full name",
                              "An account with this email address already exists",
                              "Select the police force this officer belongs to"]


def test_adding_a_force_reports_a_taken_code_with_its_other_problems(client, admin):
    create_force("WYP", "West Yorkshire Police")
    db.session.commit()
    page = client.post("/admin/forces", data={"code": "wyp", "name": "",
                                              "email_domain": "@not a domain"}).get_data(as_text=True)
    assert _summary(page) == ["A force with code WYP already exists", "Enter the force&#39;s name",
                              "Enter a domain like wyp.police.example, without the part before @"]
    assert 'value="wyp"' in page and 'value="@not a domain"' in page


def test_the_deactivation_check_says_how_many_sign_ins_it_ends(client, admin, app):
    user = create_user("facilitator", name="Fay Facilitator")
    db.session.commit()
    with app.test_client() as elsewhere:
        elsewhere.post("/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD})
    check = client.get(f"/admin/users/{user.id}/active").text
    assert re.search(r"Open sign-ins\s*</dt>\s*<dd[^>]*>\s*1\s*</dd>", check)


def test_an_administrator_is_not_offered_a_deactivation_they_cannot_make(client, admin):
    """Their own account: no button that leads to a refusal, but the reason and who can."""
    page = client.get(f"/admin/users/{admin.id}").text
    assert f'href="/admin/users/{admin.id}/active"' not in page
    assert "You cannot deactivate your own account. Another administrator can." in page
    check = client.get(f"/admin/users/{admin.id}/active")
    assert check.status_code == 302 and check.location == f"/admin/users/{admin.id}"


def test_the_account_page_says_a_change_of_role_or_force_signs_them_out(client, admin):
    user = create_user("facilitator")
    db.session.commit()
    page = client.get(f"/admin/users/{user.id}").text
    assert re.search(r'id="role-hint" class="govuk-hint">\s*Changing the role or police force '
                     r"signs them out of every open sign-in", page)
    assert "signs them out" not in client.get("/admin/users/new").text
