"""Provinces and communes from `vietnam-provinces`, searchable without diacritics; officers edit."""

from __future__ import annotations

from sqlalchemy import select

from app.audit import AuditLog
from app.auth.models import Role, User
from app.geography.models import Commune, Library
from app.text import fold
from tests.support import MUONG_LA, PASSWORD, make_library, make_user, post_form, sign_in


async def test_all_provinces(client) -> None:
    body = (await client.get("/api/v1/provinces")).json()
    assert body["total"] == 34 and len(body["items"]) == 34
    assert {"code": 14, "name": "Sơn La", "division_type": "tỉnh"} in body["items"]


async def test_all_communes_and_son_la(client) -> None:
    everything = (await client.get("/api/v1/communes", params={"limit": 1})).json()
    assert everything["total"] == 3321
    son_la = (await client.get("/api/v1/communes", params={"province_code": 14, "limit": 500})).json()
    assert son_la["total"] == 75 and len(son_la["items"]) == 75


async def test_search_ignores_diacritics_and_case(client) -> None:
    body = (await client.get("/api/v1/communes", params={"province_code": 14, "q": "muong la"})).json()
    names = [c["name"] for c in body["items"]]
    assert "Xã Mường La" in names
    assert all("muong la" in fold(n) for n in names)
    upper = (await client.get("/api/v1/communes", params={"province_code": 14, "q": "MƯỜNG LA"})).json()
    assert upper["total"] == body["total"]


async def test_search_treats_like_wildcards_literally(client) -> None:
    body = (await client.get("/api/v1/communes", params={"q": "%"})).json()
    assert body["total"] == 0


async def test_limit_and_offset_page_through(client) -> None:
    first = (await client.get("/api/v1/communes", params={"province_code": 14, "limit": 10})).json()
    second = (
        await client.get("/api/v1/communes", params={"province_code": 14, "limit": 10, "offset": 10})
    ).json()
    assert len(first["items"]) == len(second["items"]) == 10
    assert not {c["code"] for c in first["items"]} & {c["code"] for c in second["items"]}


async def test_bad_paging_is_400(client) -> None:
    for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"province_code": "abc"}):
        assert (await client.get("/api/v1/communes", params=params)).status_code == 400


async def _officer(client, db) -> User:  # type: ignore[no-untyped-def]
    officer = await make_user(db, Role.OFFICER)
    await db.commit()
    await sign_in(client, officer.email)
    return officer


async def test_officer_edits_commune_attributes_with_audit(client, db) -> None:
    officer = await _officer(client, db)
    response = await post_form(
        client, f"/officer/communes/{MUONG_LA}",
        {"is_border": "on", "population": "15200", "priority_weight": "1.8"},
    )
    assert response.status_code == 303
    commune = await db.get(Commune, MUONG_LA, populate_existing=True)
    assert (commune.is_border, commune.is_remote, commune.population, commune.priority_weight) == (
        True, False, 15200, 1.8)
    row = await db.scalar(select(AuditLog).where(AuditLog.action == "commune.update"))
    assert row.actor_id == officer.id and row.before["priority_weight"] == 1.0
    assert row.after["priority_weight"] == 1.8


async def test_bad_commune_attributes_change_nothing(client, db) -> None:
    await _officer(client, db)
    for form, message in [
        ({"priority_weight": "0"}, "Phải lớn hơn 0"),
        ({"priority_weight": "abc"}, "Nhập một số."),
        ({"priority_weight": "nan"}, "Nhập một số."),
        ({"priority_weight": "1", "population": "-5"}, "Không được nhỏ hơn 0"),
    ]:
        response = await post_form(client, f"/officer/communes/{MUONG_LA}", form)
        assert response.status_code == 422
        assert message in response.text
    commune = await db.get(Commune, MUONG_LA)
    assert commune.priority_weight == 1.0 and commune.population is None


async def test_officer_adds_library_and_invites_librarian(client, db) -> None:
    await _officer(client, db)
    response = await post_form(
        client, "/officer/libraries",
        {"commune_code": str(MUONG_LA), "name": "Thư viện xã Mường La", "kind": "commune_public_library"},
    )
    assert response.status_code == 303
    library = await db.scalar(select(Library).where(Library.name == "Thư viện xã Mường La"))
    assert library.commune_code == MUONG_LA
    response = await post_form(
        client, "/officer/librarians",
        {"library_id": str(library.id), "full_name": "Cầm Thị Dung", "email": "dung@muongla.vn"},
    )
    assert response.status_code == 200
    assert "mật khẩu dùng một lần" in response.text
    librarian = await db.scalar(select(User).where(User.email == "dung@muongla.vn"))
    assert librarian.role == Role.LIBRARIAN and librarian.library_id == library.id
    # The one-time password shown to the officer works.
    password = response.text.split("mật khẩu dùng một lần này: ")[1].split("<")[0].strip()
    await post_form(client, "/logout", {})
    await sign_in(client, "dung@muongla.vn", password)
    assert "Thư viện xã Mường La" in (await client.get("/account")).text


async def test_bad_library_and_invitation_change_nothing(client, db) -> None:
    await _officer(client, db)
    library = await make_library(db)
    await db.commit()
    bad = [
        ("/officer/libraries", {"commune_code": "999999", "name": "X", "kind": "commune_public_library"},
         "Hãy chọn một xã có trong danh sách."),
        ("/officer/libraries", {"commune_code": str(MUONG_LA), "name": "X" * 201, "kind": "law_bookcase"},
         "Không quá 200 ký tự."),
        ("/officer/libraries", {"commune_code": str(MUONG_LA), "name": "X", "kind": "castle"},
         "Hãy chọn một trong các lựa chọn."),
        ("/officer/librarians", {"library_id": "424242", "full_name": "A", "email": "a@b.vn"},
         "Hãy chọn một thư viện có trong danh sách."),
        ("/officer/librarians", {"library_id": str(library.id), "full_name": "A", "email": "nope"},
         "Nhập địa chỉ e-mail hợp lệ."),
    ]
    for url, form, message in bad:
        response = await post_form(client, url, form)
        assert response.status_code == 422, url
        assert message in response.text
    assert len((await db.scalars(select(Library))).all()) == 1
    assert len((await db.scalars(select(User).where(User.role == Role.LIBRARIAN))).all()) == 0


async def test_officer_commune_search_returns_fragment_for_htmx(client, db) -> None:
    await _officer(client, db)
    page = await client.get("/officer/communes", params={"q": "muong la"})
    assert "<html" in page.text and "Xã Mường La" in page.text
    fragment = await client.get("/officer/communes", params={"q": "muong la"}, headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and "Xã Mường La" in fragment.text


async def test_every_librarian_of_a_library_is_listed_and_an_officer_can_withdraw_access(client, db) -> None:
    officer = await _officer(client, db)
    library = await make_library(db)
    left = await make_user(db, Role.LIBRARIAN, email="cu@muongla.vn", full_name="Lò Văn Cũ", library_id=library.id)
    await make_user(db, Role.LIBRARIAN, email="moi@muongla.vn", full_name="Cầm Thị Mới", library_id=library.id)
    await db.commit()
    page = (await client.get("/officer/libraries")).text
    row = page.split(f'id="library-{library.id}"')[1].split("</tr>")[0]
    assert "Lò Văn Cũ" in row and "Cầm Thị Mới" in row  # both, not only the last one

    refused = await post_form(client, f"/officer/librarians/{left.id}/deactivate", {"reason": " "})
    assert refused.status_code == 422 and f'id="e-access-{left.id}"' in refused.text
    await db.refresh(left)
    assert left.is_active
    reason = "Đã nghỉ việc từ 01/11/2026"
    response = await post_form(client, f"/officer/librarians/{left.id}/deactivate", {"reason": reason})
    assert response.status_code == 303
    await db.refresh(left)
    assert not left.is_active
    row = await db.scalar(select(AuditLog).where(AuditLog.action == "user.deactivate"))
    assert (row.actor_id, row.entity_id, row.summary) == (officer.id, str(left.id), reason)
    again = await post_form(client, f"/officer/librarians/{left.id}/deactivate", {"reason": reason})
    assert again.status_code == 409
    # The former librarian can no longer sign in.
    client.cookies.clear()
    refused_login = await post_form(client, "/login", {"email": "cu@muongla.vn", "password": PASSWORD})
    assert refused_login.status_code == 422 and "set-cookie" not in {k.lower() for k in refused_login.headers}
    # An officer may restore it, saying why; a sponsor or an unknown account cannot be touched.
    await sign_in(client, officer.email)
    restored = await post_form(client, f"/officer/librarians/{left.id}/reactivate", {"reason": "Quay lại làm việc"})
    assert restored.status_code == 303
    await db.refresh(left)
    assert left.is_active
    sponsor = await make_user(db, Role.SPONSOR, email="nhataitro@example.vn")
    await db.commit()
    assert (await post_form(client, f"/officer/librarians/{sponsor.id}/deactivate", {"reason": "x"})).status_code == 404
    assert (await post_form(client, "/officer/librarians/424242/deactivate", {"reason": "x"})).status_code == 404
