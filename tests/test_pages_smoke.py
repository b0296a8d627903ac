"""Every admin and dashboard page, as every staff role, over a dataset of every ledger state.

The pages are enumerated, not listed: each ModelAdmin of the admin site (changelist, each
filter choice, a search, add, and change, history and delete confirmation of a sample of
its rows, one per state), each custom URL of each ModelAdmin and of the site, and each
route of the URLconf outside the API, their arguments filled from the dataset. A page may
answer 200, a redirect (to the login or to a page the user may see) or the permission's
403; never a crash. Run with DEBUG off, as in production.
"""
import re
import traceback
from urllib.parse import urlsplit

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from ledger.models import CreditAccount, EntryType, Grant, LedgerEntry, ReportResult, Workspace
from ledger.reports import reports_all
from migrations_ops.models import Run

from .states import ROLES, every_state, every_state_teardown, missing_states

pytestmark = pytest.mark.django_db

#: A model's rows all get their pages up to this many; past it, one row per state.
ALL_ROWS_UP_TO = 8
#: Site URLs not fetched: logout ends the session; the catch-all and view_on_site only redirect.
SKIPPED_SITE_URLS = {"logout", "view_on_site", None}
#: Standard ModelAdmin URL names (by their suffix): enumerated per model below.
STANDARD = ("changelist", "add", "history", "delete", "change")
#: What a page may answer: 200, a redirect, or 403; 405 for a GET on an action that only posts.
ANSWERS = {200, 302, 403, 405}


@pytest.fixture
def states(db):
    built = every_state()
    yield built
    every_state_teardown()


def test_the_dataset_holds_every_state(states):
    assert missing_states() == {}


def _sample(queryset):
    """Every row of a small table; else the first, the last and one per value of each
    field with choices (status, kind, owner kind...)."""
    queryset = queryset.order_by("pk")
    if queryset.count() <= ALL_ROWS_UP_TO:
        return list(queryset)
    rows = {row.pk: row for row in (queryset.first(), queryset.last())}
    for field in queryset.model._meta.concrete_fields:
        if field.choices:
            for value in queryset.values_list(field.attname, flat=True).distinct().order_by():
                row = queryset.filter(**{field.attname: value}).first()
                rows[row.pk] = row
    return list(rows.values())


def _lot_pairs():
    """(account_id, grant_id) of one lot per state: active, spent, lapsed, expired, voided."""
    lots = Grant.objects.order_by("pk")
    picks = [lots.filter(voided_at__isnull=False), lots.filter(expired_at__isnull=False),
             lots.filter(remaining=0, voided_at=None, expired_at=None), lots.filter(remaining__gt=0)]
    return {(lot.account_id, lot.pk) for query in picks for lot in query[:2]}


def _debit_pairs():
    """(account_id, entry_id) of debits: a refund page is for a debit (404 for other entries)."""
    return {(entry.account_id, entry.pk) for entry in _sample(LedgerEntry.objects.filter(entry_type=EntryType.DEBIT))}


def _kwargs_choices(kwarg_names, pattern):
    """Every set of kwargs to fill a route with, from the dataset."""
    names = set(kwarg_names)
    accounts = [account.pk for account in _sample(CreditAccount.objects.all())]
    if names == {"account_id", "grant_id"}:
        return [{"account_id": a, "grant_id": g} for a, g in sorted(_lot_pairs())]
    if names == {"account_id", "entry_id"}:
        return [{"account_id": a, "entry_id": e} for a, e in sorted(_debit_pairs())]
    if names == {"run_id", "action"}:
        actions = re.search(r"\(\?P<action>([^)]*)\)", pattern).group(1).split("|")
        return [{"run_id": run.pk, "action": action} for run in _sample(Run.objects.all()) for action in actions]
    values = {
        "account_id": accounts,
        "workspace_id": list(Workspace.objects.values_list("pk", flat=True)),
        # The execute page is a dry run's (a plan's); 404 for other runs.
        "run_id": [run.pk for run in _sample(Run.objects.filter(dry_run=True) if "execute" in pattern else Run.objects)],
        "name": list(reports_all()),
        "pk": list(ReportResult.objects.values_list("pk", flat=True)),
        "id": None,  # filled per model (the user password page)
    }
    if len(names) != 1 or values.get(next(iter(names))) is None:
        raise AssertionError(f"no dataset values for the route {pattern!r} ({sorted(names)}): add them here")
    (name,) = names
    return [{name: value} for value in values[name]]


def _route_kwargs(pattern):
    regex = pattern.pattern.regex
    return list(regex.groupindex)


def _model_urls(client, superuser, model, model_admin):
    """The model's pages: those of its ModelAdmin's routes, each filled from the dataset."""
    prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
    routes = {pattern.name: pattern for pattern in model_admin.get_urls() if pattern.name}
    urls = [reverse(f"admin:{prefix}{view}") for view in ("changelist", "add") if prefix + view in routes]
    if prefix + "changelist" in routes:
        urls += _changelist_variants(client, urls[0], model_admin)
    request = RequestFactory().get("/")
    request.user = superuser
    for row in _sample(model_admin.get_queryset(request).all()):
        urls += [reverse(f"admin:{prefix}{view}", args=[row.pk]) for view in ("change", "history", "delete")
                 if prefix + view in routes]
    for name, pattern in routes.items():
        if name.removeprefix(prefix) in STANDARD:
            continue
        kwargs = _route_kwargs(pattern)
        if kwargs == ["id"]:  # auth's password change of one user
            urls += [reverse(f"admin:{name}", kwargs={"id": pk}) for pk in model.objects.values_list("pk", flat=True)]
            continue
        choices = _kwargs_choices(kwargs, str(pattern.pattern)) if kwargs else [{}]
        urls += [reverse(f"admin:{name}", kwargs=choice) for choice in choices]
    return urls


def _changelist_variants(client, changelist, model_admin):
    """The changelist with each choice of each of its filters, and with a search."""
    urls = []
    response = client.get(changelist)
    if response.status_code == 200 and "cl" in (response.context or {}):
        cl = response.context["cl"]
        for spec in cl.filter_specs:
            urls += [changelist + choice["query_string"] for choice in spec.choices(cl)]
    if model_admin.search_fields:
        urls.append(changelist + "?q=acme")
    return urls


def _site_urls():
    urls = []
    for pattern in admin.site.get_urls():
        if isinstance(pattern, URLResolver) or pattern.name in SKIPPED_SITE_URLS:
            continue
        if pattern.name == "app_list":
            labels = {model._meta.app_label for model in admin.site._registry}
            urls += [reverse("admin:app_list", kwargs={"app_label": label}) for label in sorted(labels)]
        else:
            urls.append(reverse(f"admin:{pattern.name}"))
    return urls


def _routes(patterns, prefix=""):
    """(route, pattern) of every URL pattern of the URLconf outside the admin site and the API."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if pattern.app_name in ("admin",) or route.startswith("api/"):
                continue
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern, prefix


def _urlconf_urls():
    urls = []
    resolver = get_resolver()
    for route, pattern, _prefix in _routes(resolver.url_patterns):
        kwargs = _route_kwargs(pattern)
        lookup = _reverse_name(resolver, pattern)
        choices = _kwargs_choices(kwargs, route) if kwargs else [{}]
        urls += [reverse(lookup, kwargs=choice) for choice in choices]
    return urls


def _reverse_name(resolver, pattern):
    for namespace, (_prefix, sub) in resolver.namespace_dict.items():
        if pattern in _all_patterns(sub):
            return f"{namespace}:{pattern.name}"
    return pattern.name


def _all_patterns(resolver):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _all_patterns(pattern)
        else:
            yield pattern


def _pages(superuser):
    client = Client()
    client.force_login(superuser)
    urls = _site_urls() + _urlconf_urls()
    for model, model_admin in admin.site._registry.items():
        urls += _model_urls(client, superuser, model, model_admin)
    return list(dict.fromkeys(urls))


def _fetch(client, url):
    """The status of one page, its body read (streamed CSV included); an exception's
    traceback instead of a status when it crashes."""
    try:
        response = client.get(url)
        if response.streaming:
            b"".join(response.streaming_content)
        return response.status_code, response.get("Location", "")
    except Exception:  # noqa: BLE001 (each crash is collected, then all are reported)
        return "crash", traceback.format_exc(limit=-4)


def _allowed(status, detail, url, hidden_apps):
    """Whether a page's answer is one it may give: a 302 stays in the admin (its login or a
    page of the site); a 404 only for the index of an app the user sees nothing of, as
    Django's admin answers it."""
    if status == 302:
        return urlsplit(detail).path.startswith("/admin/")
    if status == 404:
        return any(url == reverse("admin:app_list", kwargs={"app_label": label}) for label in hidden_apps)
    return status in ANSWERS


def _hidden_apps(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    seen = {app["app_label"] for app in admin.site.get_app_list(request)}
    return {model._meta.app_label for model in admin.site._registry} - seen


def test_every_page_answers_every_role_without_a_crash(states, capsys):
    pages = _pages(states.staff["superuser"])
    problems, fetched = [], 0
    for role in ROLES:
        user = states.staff[role]
        client = Client(raise_request_exception=True)
        client.force_login(user)
        hidden_apps = _hidden_apps(user)
        for url in pages:
            status, detail = _fetch(client, url)
            fetched += 1
            if not _allowed(status, detail, url, hidden_apps):
                problems.append(f"{role} GET {url}: {status}\n{detail if status == 'crash' else ''}")
    with capsys.disabled():
        print(f"\npages smoke: {len(pages)} pages x {len(ROLES)} roles = {fetched} requests")
    assert not problems, f"{len(problems)} of {fetched} requests failed:\n" + "\n".join(problems)
