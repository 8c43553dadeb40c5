"""Knowledge base writes (知识库): saving an article and linking the article an agent used to
answer a work order (咨询 answered at first contact).

* ``article_save`` creates or updates an article by its code, recomputes its segmented
  ``search_text`` (title twice, so title words weigh more in the ranking, then keywords
  and body; see ``engine/segment.py``) and writes an audit row with the changed fields.
  The full-text index follows through the database (migration 0004: a GIN expression
  index on PostgreSQL, an FTS5 table kept by triggers on SQLite).
* ``article_link_to_order`` records on an open order which article answered it: sets
  ``WorkOrder.kb_article``, counts the use on the article with ``F()``, appends a
  ``kb_link`` event to the order's timeline and an audit row. A closed order is refused;
  ``expected_version`` is the order's optimistic lock as for every other change.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridcare.core.audit import actor_label, audit_record, diff, snapshot
from gridcare.core.errors import Conflict, NotFound, ValidationFailed
from gridcare.core.roles import require_actor_perm
from gridcare.workorders.choices import EventType
from gridcare.workorders.engine.segment import search_text
from gridcare.workorders.models import Article, ArticleCategory, WorkOrder, WorkOrderEvent

Actor = AbstractBaseUser | AnonymousUser | str | None

__all__ = ["ARTICLE_AUDIT_FIELDS", "article_link_to_order", "article_save", "article_search_text"]

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ARTICLE_AUDIT_FIELDS = ("code", "category_id", "title", "body", "keywords", "is_published")


def _user_or_none(actor: Actor) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def article_search_text(*, title: str, keywords: str, body: str) -> str:
    """What the index reads: the title's words twice (a title hit outranks a body hit),
    then the keywords', then the body's."""
    return search_text(title, title, keywords, body)


def _clean(value: Any, *, field: str, max_length: int | None, required: bool) -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise ValidationFailed(_("This field is required."), field=field)
    if max_length is not None and len(text) > max_length:
        raise ValidationFailed(
            _("At most %(max)d characters.") % {"max": max_length},
            field=field,
        )
    return text


@transaction.atomic
def article_save(
    *,
    actor: Actor,
    code: str,
    category_code: str,
    title: str,
    body: str,
    keywords: str = "",
    is_published: bool = True,
) -> Article:
    """Create the article ``code`` or update it (知识库文章维护).

    Needs ``workorders.add_article`` to create and ``workorders.change_article`` to update
    (or a system actor). Errors name the field: ``code``, ``category_code``, ``title``,
    ``body``, ``keywords``. Saving identical content changes nothing and writes no audit row.
    """
    code = _clean(code, field="code", max_length=30, required=True)
    if not CODE_RE.match(code):
        raise ValidationFailed(
            _("Use letters, digits, '-', '_' or '.', starting with a letter or digit."), field="code"
        )
    category_code = _clean(category_code, field="category_code", max_length=30, required=True)
    title = _clean(title, field="title", max_length=200, required=True)
    body = _clean(body, field="body", max_length=None, required=True)
    keywords = " ".join(_clean(keywords, field="keywords", max_length=300, required=False).split())
    category = ArticleCategory.objects.filter(code=category_code).first()
    if category is None:
        raise ValidationFailed(_("No knowledge category has this code."), field="category_code")

    article = Article.objects.select_for_update().filter(code=code).first()
    require_actor_perm(actor, "workorders.add_article" if article is None else "workorders.change_article")
    now = timezone.now()
    fields = {
        "category": category,
        "title": title,
        "body": body,
        "keywords": keywords,
        "is_published": bool(is_published),
        "search_text": article_search_text(title=title, keywords=keywords, body=body),
    }
    if article is None:
        article = Article.objects.create(code=code, updated_at=now, updated_by=_user_or_none(actor), **fields)
        audit_record(actor=actor, obj=article, action="create", after=snapshot(article, ARTICLE_AUDIT_FIELDS))
        return article

    before = snapshot(article, ARTICLE_AUDIT_FIELDS)
    old_search_text = article.search_text
    for name, value in fields.items():
        setattr(article, name, value)
    changed_before, changed_after = diff(before, snapshot(article, ARTICLE_AUDIT_FIELDS))
    if not changed_after and old_search_text == fields["search_text"]:
        return article
    article.updated_at = now
    article.updated_by = _user_or_none(actor)
    article.save()
    if changed_after:
        audit_record(actor=actor, obj=article, action="update", before=changed_before, after=changed_after)
    return article


@transaction.atomic
def article_link_to_order(
    *,
    actor: Actor,
    order_id: int,
    article_id: int,
    expected_version: int | None = None,
) -> WorkOrder:
    """Record that ``article_id`` answered the open order ``order_id`` (知识库引用).

    Needs ``workorders.change_workorder``. The order is locked; a closed order or a stale
    ``expected_version`` is a ``Conflict`` and nothing changes; an unpublished article is
    refused (field ``article_id``). Linking the article the order already has is a no-op.
    Otherwise the order's ``kb_article`` is set, its version bumped, the article's
    ``use_count`` incremented, and a ``kb_link`` timeline event plus an audit row written.
    """
    require_actor_perm(actor, "workorders.change_workorder")
    order = WorkOrder.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise NotFound(_("No such work order."), field="order_id")
    if not order.is_open:
        raise Conflict(_("The work order is closed; a knowledge article cannot be linked."), field="order_id")
    if expected_version is not None and order.version != expected_version:
        raise Conflict(
            _("The work order was changed by someone else (version %(now)d, you had %(had)d); reload it.")
            % {"now": order.version, "had": expected_version},
            field="version",
        )
    article = Article.objects.filter(pk=article_id).first()
    if article is None:
        raise NotFound(_("No such knowledge article."), field="article_id")
    if not article.is_published:
        raise ValidationFailed(_("This article is not published."), field="article_id")
    if order.kb_article_id == article.pk:
        return order

    now = timezone.now()
    before = {"kb_article_id": order.kb_article_id, "version": order.version}
    previous = order.kb_article_id
    order.kb_article = article
    order.version = order.version + 1
    order.updated_at = now
    order.save(update_fields=["kb_article", "version", "updated_at"])
    Article.objects.filter(pk=article.pk).update(use_count=F("use_count") + 1)
    WorkOrderEvent.objects.create(
        order=order,
        at=now,
        actor=_user_or_none(actor),
        actor_label=actor_label(actor)[:150],
        event_type=EventType.KB_LINK,
        note=f"{article.code} {article.title}"[:500],
        data={"article_id": article.pk, "article_code": article.code, "replaced_article_id": previous},
    )
    audit_record(
        actor=actor,
        obj=order,
        action="kb_link",
        before=before,
        after={"kb_article_id": article.pk, "version": order.version},
    )
    return order
