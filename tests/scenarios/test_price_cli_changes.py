"""``cpqsim price`` on a change request: the installed assets stated, old against new.

Given the library's change request (account acct-0042: 40 standard seats upgraded to
premium, one internet line suspended, another disconnected early, on 2026-04-15), when it
is priced, then each change line shows the asset before and after and its charges with
the trace, and the price is the one a quote for the same change gets. The assets may be
stated inline, in a file as ``cpqsim assets --json`` prints them, or as a run folder.
A change the installed base refuses exits 2 with the change check's code, and hostile
input (unknown asset, another account's asset, NaN, an alias bomb) exits 2 naming the
file, line and field.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cpqsim.configuration import QuoteLine
from cpqsim.context import Context, IdSource, at, rng_stream
from cpqsim.events import envelope
from cpqsim.pricing_change_terms import ContractBook
from cpqsim.quote import CreateQuote, PriceQuote, QuoteServices, execute
from cpqsim_scenarios.cli import app
from cpqsim_scenarios.files import load_catalog_file
from cpqsim_scenarios.price_file import load_price_job
from cpqsim_scenarios.stated_assets import StatedAsset, installed_base_of

REPO = Path(__file__).resolve().parents[2]
REQUESTS = REPO / "scenarios" / "library" / "requests"
CHANGE_REQUEST = REQUESTS / "upgrade_and_disconnect.yaml"
NEW_SALE_REQUEST = REQUESTS / "saas_and_internet.yaml"
CATALOG = REPO / "scenarios" / "library" / "catalog" / "enterprise.yaml"

runner = CliRunner()


def price(*args: str):
    return runner.invoke(app, ["price", *map(str, args)], env={"COLUMNS": "300"})


def example() -> dict:
    return yaml.safe_load(CHANGE_REQUEST.read_text(encoding="utf-8"))


def write_request(tmp_path: Path, document: dict, name: str = "request.yaml") -> Path:
    document = {**document, "catalog": str(CATALOG)}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def without_installed_base(document: dict) -> dict:
    return {k: v for k, v in document.items() if k != "installed_base"}


def priced_json(*args) -> dict:
    answer = price(*args, "--json")
    assert answer.exit_code == 0, answer.output
    return json.loads(answer.stdout)


# ------------------------------------------------------------------------ what is shown


def test_each_change_line_shows_its_asset_before_and_after_and_its_charges():
    # When the library's change request is priced as JSON
    body = priced_json(CHANGE_REQUEST)
    # Then every change line is priced as a delta, with its own trace
    changes = {c["action"]: c for c in body["changes"]}
    assert set(changes) == {"upgrade", "suspend", "disconnect"}
    upgrade = changes["upgrade"]
    assert (upgrade["old_monthly"], upgrade["new_monthly"]) == ("500.00", "820.00")
    # the seats' billing month is 2026-03-20..2026-04-20: 5 of its 31 days are left
    assert (upgrade["days"], upgrade["period_days"]) == (5, 31)
    assert (upgrade["credit"], upgrade["charge"], upgrade["due"]) == ("80.65", "132.26", "51.61")
    assert [s["rule"] for s in upgrade["trace"]][:2] == ["change_old_charge", "change_new_charge"]
    # the disconnect pays half of the two months left in its term (contract terms stated)
    disconnect = changes["disconnect"]
    assert disconnect["one_time"] == "299.00" and disconnect["term_end"] == "2026-04-15"
    assert body["change_due_total"] == "-11.10"
    # ... and beside the result, each change line old against new
    views = {v["action"]: v for v in body["change_lines"]}
    assert views["upgrade"]["before"]["options"] == ["saas-edition-standard@1"]
    assert views["upgrade"]["after"]["options"] == ["saas-edition-premium@1"]
    assert (views["suspend"]["before"]["status"], views["suspend"]["after"]["status"]) == (
        "active",
        "suspended",
    )
    assert views["suspend"]["after"]["monthly"] == "94.80"  # the contract's 20 % hold share
    assert views["disconnect"]["asset_version"] == 2


def test_the_text_output_shows_the_changes_table_and_their_trace_steps():
    answer = price(CHANGE_REQUEST)
    assert answer.exit_code == 0, answer.output
    text = answer.stdout
    assert "changes to installed assets" in text
    assert "saas-suite@2 with saas-edition-standard@1, quantity 40, active" in text
    assert "500.00 -> 820.00" in text and "474.00 -> 94.80" in text
    assert "early_termination" in text and "change_credit" in text
    assert "changes: due now -11.10 (negative: a credit), monthly charges -358.20" in text


def test_the_price_is_the_one_a_quote_for_the_same_change_gets():
    # Given the same assets in a quote side's installed base, and the same contract terms
    document = example()
    catalog = load_catalog_file(CATALOG)
    base = installed_base_of([StatedAsset.model_validate(a) for a in document["installed_base"]])
    request = document["request"]
    services = QuoteServices(
        catalog=catalog,
        installed_base=base,
        contract_terms=ContractBook.model_validate(
            {"accounts": {"acct-0042": request["contract_terms"]}}
        ),
    )
    ctx = Context(now=at(0) + timedelta(days=100), ids=IdSource(), rng=rng_stream(1, "t"))
    assert ctx.now.date().isoformat() == "2026-04-15"
    create = CreateQuote(
        quote_id="q-1",
        account_id="acct-0042",
        requester="rep",
        currency="USD",
        lines=[QuoteLine.model_validate(line) for line in request["lines"]],
    )
    # When a quote is made and priced, and the request file is priced by the CLI
    state, _ = execute(None, create, ctx, services)
    state, _ = execute(state, PriceQuote(quote_id="q-1"), ctx, services)
    body = priced_json(CHANGE_REQUEST)
    # Then both price the same input to the same result
    assert body["input_fingerprint"] == state.price.input_fingerprint
    assert body["fingerprint"] == state.price.fingerprint
    # ... the request stating what the quote side derives: the asset terms, the contract,
    # and what else the account has installed (the firewall, not changed)
    prepared = load_price_job(CHANGE_REQUEST).request
    assert prepared == state.price_request
    assert [a.asset_id for a in prepared.assets] == ["ast-0042-1", "ast-0042-2", "ast-0042-3"]
    assert "managed-firewall@1" in prepared.installed_offerings


def test_a_new_sale_request_prints_what_it_printed_before():
    body = priced_json(NEW_SALE_REQUEST)
    assert not {"change_lines", "changes", "change_due_total"} & set(body)
    assert "changes to installed assets" not in price(NEW_SALE_REQUEST).stdout


# --------------------------------------------------------------- where the assets come from


def test_assets_listed_by_cpqsim_assets_can_be_given_with_installed_base(tmp_path):
    # Given the assets as `cpqsim assets --json` prints them from a run's log
    document = example()
    stated = [StatedAsset.model_validate(a) for a in document["installed_base"]]
    run = tmp_path / "run"
    run.mkdir()
    ctx = Context(now=at(0), ids=IdSource())
    facts = [fact for asset in stated for fact in asset.facts()]
    (run / "events.jsonl").write_text(
        "".join(envelope(f, ctx).to_json() + "\n" for f in facts), encoding="utf-8"
    )
    listed = runner.invoke(app, ["assets", "--run", str(run), "--account", "acct-0042", "--json"])
    assert listed.exit_code == 0, listed.output
    assets_file = tmp_path / "assets.json"
    assets_file.write_text(listed.stdout, encoding="utf-8")
    request = write_request(tmp_path, without_installed_base(document))
    # When the request is priced with that file, and with the run folder itself
    from_file = priced_json(request, "--installed-base", assets_file)
    from_run = priced_json(request, "--installed-base", run)
    # Then both price exactly what the inline assets price
    inline = priced_json(CHANGE_REQUEST)
    assert from_file["fingerprint"] == from_run["fingerprint"] == inline["fingerprint"]
    assert from_file["change_lines"] == inline["change_lines"]


def test_the_installed_base_given_twice_is_refused(tmp_path):
    assets = tmp_path / "assets.yaml"
    assets.write_text(yaml.safe_dump(example()["installed_base"]), encoding="utf-8")
    answer = price(CHANGE_REQUEST, "--installed-base", assets)
    assert answer.exit_code == 2
    assert "installed_base" in answer.output and "give it once" in answer.output


def test_asset_terms_stated_beside_an_installed_base_are_refused(tmp_path):
    document = example()
    document["request"]["assets"] = [
        {
            "asset_id": "ast-0042-1",
            "version": 1,
            "offering": "saas-suite@2",
            "status": "active",
            "quantity": 40,
            "recurring_monthly": "1.00",
            "currency": "USD",
            "term_start": "2026-01-20",
        }
    ]
    answer = price(write_request(tmp_path, document))
    assert answer.exit_code == 2 and "request.assets" in answer.output


# -------------------------------------------------------------------------- refusals


def refusal(tmp_path: Path, document: dict, *extra: str) -> dict:
    """Price ``document``, expect exit 2, and return the problems (JSON)."""
    answer = price(write_request(tmp_path, document), *extra, "--json")
    assert answer.exit_code == 2, answer.output
    body = json.loads(answer.stdout)
    assert body["error"] == "invalid_input" and body["file"].endswith("request.yaml")
    return body["problems"]


def test_a_change_to_an_asset_not_given_is_refused_with_the_change_checks_code(tmp_path):
    # Given a line acting on an asset the installed base does not hold
    document = example()
    document["request"]["lines"][1]["asset_id"] = "ast-ghost"
    problems = refusal(tmp_path, document)
    # Then it is refused as the quote side refuses it, at the line, with its place
    assert [(p["where"], p["code"]) for p in problems] == [("request.lines[1]", "unknown_asset")]
    assert problems[0]["line"] is not None and "ast-ghost" in problems[0]["message"]


def test_a_change_request_without_any_installed_base_refuses_every_change(tmp_path):
    problems = refusal(tmp_path, without_installed_base(example()))
    assert {p["code"] for p in problems} == {"unknown_asset"} and len(problems) == 3


def test_another_accounts_asset_is_refused(tmp_path):
    document = example()
    document["installed_base"][2]["account_id"] = "acct-0007"
    problems = refusal(tmp_path, document)
    assert [(p["where"], p["code"]) for p in problems] == [("request.lines[2]", "other_account")]


@pytest.mark.parametrize(
    ("stated", "code"),
    [
        ({"status": "disconnected"}, "asset_disconnected"),
        ({"status": "pending_change", "locked_by": "ord-77"}, "asset_pending_change"),
        ({"missing_metadata": ["term"]}, "incomplete_asset_metadata"),
        ({"offering": "managed-firewall@1"}, "offering_mismatch"),
    ],
)
def test_a_change_the_asset_state_does_not_allow_is_refused(tmp_path, stated, code):
    document = example()
    document["installed_base"][0].update(stated)
    problems = refusal(tmp_path, document)
    assert (problems[0]["where"], problems[0]["code"]) == ("request.lines[0]", code)


def test_an_upgrade_the_catalog_does_not_allow_is_refused(tmp_path):
    # Given premium seats, when a request "upgrades" them to standard
    document = example()
    document["installed_base"][0]["options"] = ["saas-edition-premium@1"]
    document["request"]["lines"][0]["options"] = ["saas-edition-standard"]
    problems = refusal(tmp_path, document)
    assert problems[0]["code"] == "upgrade_not_allowed"


def test_the_text_refusal_names_file_line_field_and_code(tmp_path):
    document = example()
    document["request"]["lines"][0]["asset_id"] = "ast-ghost"
    answer = price(write_request(tmp_path, document))
    assert answer.exit_code == 2
    assert "request.yaml:" in answer.output
    assert "request.lines[0]: [unknown_asset]" in answer.output


def test_a_change_request_names_its_account_and_business_date(tmp_path):
    document = example()
    del document["request"]["account_id"], document["request"]["business_date"]
    problems = refusal(tmp_path, document)
    assert {p["where"] for p in problems} == {"request.account_id", "request.business_date"}


def test_an_asset_without_billing_terms_cannot_be_priced_and_says_what_it_lacks(tmp_path):
    document = example()
    for name in ("recurring_monthly", "currency", "term_start", "term_end"):
        del document["installed_base"][1][name]
    problems = refusal(tmp_path, document)
    assert problems[0]["where"] == "request.lines[1]"
    assert "recurring_monthly, currency, term_start" in problems[0]["message"]


# ---------------------------------------------------------------------- hostile input


def test_a_nan_quantity_is_refused_naming_the_field(tmp_path):
    text = CHANGE_REQUEST.read_text(encoding="utf-8").replace(
        "offering: saas-suite, quantity: 40", "offering: saas-suite, quantity: .nan"
    )
    path = tmp_path / "nan.yaml"
    path.write_text(text.replace("../catalog/enterprise.yaml", str(CATALOG)), encoding="utf-8")
    answer = price(path)
    assert answer.exit_code == 2
    assert "nan.yaml:" in answer.output and "request.lines[0].quantity" in answer.output


@pytest.mark.parametrize("field", ["quantity", "recurring_monthly"])
def test_a_nan_in_a_stated_asset_is_refused_with_its_line(tmp_path, field):
    text = CHANGE_REQUEST.read_text(encoding="utf-8")
    text = text.replace('recurring_monthly: "299.00"', f"{field}: .nan")
    path = tmp_path / "nan.yaml"
    path.write_text(text.replace("../catalog/enterprise.yaml", str(CATALOG)), encoding="utf-8")
    answer = price(path, "--json")
    assert answer.exit_code == 2
    problems = json.loads(answer.stdout)["problems"]
    assert problems[0]["where"] == f"installed_base[2].{field}"
    assert problems[0]["line"] == text.splitlines().index(f"    {field}: .nan") + 1


def test_a_bare_list_installed_base_file_names_the_entry_and_line(tmp_path):
    assets = example()["installed_base"]
    assets[1]["quantity"] = 0
    path = tmp_path / "assets.yaml"
    path.write_text(yaml.safe_dump(assets, sort_keys=False), encoding="utf-8")
    request = write_request(tmp_path, without_installed_base(example()))
    answer = price(request, "--installed-base", path, "--json")
    assert answer.exit_code == 2
    body = json.loads(answer.stdout)
    assert body["file"] == str(path)
    assert body["problems"][0]["where"] == "[1].quantity" and body["problems"][0]["line"]


def test_an_asset_id_stated_twice_is_refused(tmp_path):
    document = example()
    document["installed_base"].append(dict(document["installed_base"][0]))
    answer = price(write_request(tmp_path, document))
    assert answer.exit_code == 2 and "stated twice" in answer.output


ALIAS_BOMB = "\n".join(
    ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
)


def test_an_alias_bomb_as_installed_base_is_refused_before_it_expands(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(ALIAS_BOMB + "\ninstalled_base: *a8\n", encoding="utf-8")
    request = write_request(tmp_path, without_installed_base(example()))
    answer = price(request, "--installed-base", bomb)
    assert answer.exit_code == 2
    assert "bomb.yaml" in answer.output and "expands to more than" in answer.output


def test_an_alias_bomb_inline_is_refused_before_it_expands(tmp_path):
    path = tmp_path / "request.yaml"
    path.write_text(
        ALIAS_BOMB + f"\ncatalog: {CATALOG}\ninstalled_base: *a8\nrequest: {{lines: []}}\n",
        encoding="utf-8",
    )
    answer = price(path)
    assert answer.exit_code == 2 and "expands to more than" in answer.output


def test_a_missing_installed_base_file_is_refused(tmp_path):
    answer = price(
        CHANGE_REQUEST.parent / "saas_and_internet.yaml", "--installed-base", tmp_path / "no.yaml"
    )
    assert answer.exit_code == 2 and "no such file" in answer.output
