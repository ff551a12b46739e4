"""Reports as evidence: every script shown exactly, PDF/A checked by veraPDF (an implementation we did
not write), signed and checked by `audit-layer report verify`, reviews recorded after the fact counted."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from audit_layer_governance.named_queries import load_queries, run_named
from audit_layer_governance.reports import compliance_summary, decision_audit
from audit_layer_governance.reports.render import render
from audit_layer_governance.reports.signature import load_report_key
from audit_layer_governance.reviews import review_event
from audit_layer_samples.datasets import chain, load, varied_events
from audit_layer_samples.factories import make_event
from fpdf import FPDF
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
VERAPDF = REPO / "tests/interop/verapdf"
TODAY = dt.datetime.now(dt.UTC).date()
LINES = ["Łukasz Żółć zapłacił 120 € — dziękuję", "Καλημέρα κόσμε", "Привет, мир", "你好，世界 审查",
         "مرحبا بالعالم", "שלום עולם"]
# short decision types, one per script: they land in narrow table cells without wrapping
TYPES = ["kredyt Łukasz €", "Καλημέρα", "Привет", "审查", "مرحبا", "שלום"]


def _text(pdf: bytes) -> str:
    doc = pdfium.PdfDocument(pdf)
    return "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc))).replace("\r\n", "\n")


@pytest.fixture(scope="module")
def verapdf() -> list[str]:
    """veraPDF from Maven Central, fetched once by its pom (as .ci/run does)."""
    jars = VERAPDF / "target/dependency"
    if not any(jars.glob("greenfield-apps-*.jar")):
        subprocess.run(["mvn", "-q", "-B", "dependency:copy-dependencies", "-DoutputDirectory=target/dependency"],
                       cwd=VERAPDF, check=True, timeout=900)
    return ["java", "-cp", f"{jars}/*", "org.verapdf.apps.GreenfieldCliWrapper", "--flavour", "2b", "--format",
            "text"]


def _pdfa(verapdf: list[str], path: Path) -> str:
    out = subprocess.run([*verapdf, str(path)], capture_output=True, text=True, timeout=300)
    return out.stdout.strip()


def _record(tenant: str) -> Any:
    prompt = json.dumps([{"role": "system", "content": "Odpowiadaj krótko."},
                         {"role": "user", "content": "\n".join(LINES)}], ensure_ascii=False)
    return make_event(tenant, prompt=prompt, response="\n".join(reversed(LINES)), user_id="Łukasz Żółć",
                      decision_type="loan_underwriting", decision_outcome="denied", duration_ms=1197.765999989997,
                      metadata={"branch": '"Warszawa — Śródmieście"', "amount": "50000"})


@pytest.fixture()
def evidence(store: Any) -> dict[str, Any]:
    record = _record("acme")
    scripts = [make_event("acme", decision_type=t, decision_outcome="odmowa", user_id=t, action="REJECT",
                          reason_codes=["refusal"]) for t in TYPES]
    events = [*varied_events("acme", 40), record, *scripts]
    chained = chain(events)
    load(store, chained)
    return {"record": record, "events": events, "chained": chained}


def test_report_pdfs_show_every_script_exactly_validate_as_pdfa_and_verify_signed(
        store: Any, evidence: dict[str, Any], verapdf: list[str], tmp_path: Path) -> None:
    key_file = tmp_path / "keys/report-ed25519.pem"
    key = load_report_key(key_file)
    record = evidence["record"]
    audit = decision_audit.build(store, record.event_id, {}, "acme")
    summary = compliance_summary.build(store, "acme", TODAY - dt.timedelta(days=1), TODAY)

    audit_pdf, summary_pdf = (render(r, "pdf", signing_key=key) for r in (audit, summary))
    text = _text(audit_pdf)
    for line in LINES:
        assert text.count(line) == 2, line  # once in the prompt, once in the response
    # the conversation as messages, rounded durations, unquoted metadata, RFC 3339 times
    assert "system\nOdpowiadaj krótko." in text and "\nuser\nŁukasz" in text and "\nassistant\nשלום" in text
    assert "1,197.8 ms" in text and "1.197765999989997" not in text
    assert "Warszawa — Śródmieście" in text and '"Warszawa' not in text
    assert f"{dt.datetime.fromtimestamp(record.timestamp_us / 1e6, dt.UTC):%Y-%m-%dT%H:%M:%S}" in text
    assert "page 1 of " in text and "?" not in text.replace("? (", "")
    summary_text = _text(summary_pdf)
    for name in TYPES:
        assert name in summary_text, name
    assert "Appendix: high-risk decisions without human review" in summary_text
    assert "Łukasz Żółć" in summary_text  # the record's user, listed in the appendix
    assert "Events per day" in summary_text  # two days: a per-day chart

    # the document's metadata, in XMP as PDF/A has it
    xmp = audit_pdf[audit_pdf.index(b"<x:xmpmeta"):audit_pdf.index(b"</x:xmpmeta>")].decode()
    assert f'<rdf:li xml:lang="x-default">{audit.title}</rdf:li>' in xmp  # dc:title
    assert f'<rdf:li xml:lang="x-default">{audit.subtitle}</rdf:li>' in xmp  # dc:description (subject)
    assert "<rdf:li>Audit Layer</rdf:li>" in xmp  # dc:creator (author)
    assert f'xmp:CreateDate="{audit.generated_at[:19]}' in xmp
    assert "<pdfaid:part>2</pdfaid:part>" in xmp and b"/FontFile2" in audit_pdf and b"/Helvetica" not in audit_pdf

    for name, body in (("audit.pdf", audit_pdf), ("summary.pdf", summary_pdf)):
        path = tmp_path / name
        path.write_bytes(body)
        assert _pdfa(verapdf, path).startswith("PASS"), name
    # the validator can fail: a plain PDF with a core font is not PDF/A
    plain = FPDF()
    plain.add_page()
    plain.set_font("Helvetica", size=12)
    plain.cell(0, 10, "not PDF/A")
    (tmp_path / "plain.pdf").write_bytes(bytes(plain.output()))
    assert _pdfa(verapdf, tmp_path / "plain.pdf").startswith("FAIL")

    def check(path: Path, keys: Path = key_file.parent) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "audit_layer_cli.main", "report", "verify", str(path),
                               "--keys", str(keys)], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "COLUMNS": "200"})

    ok = check(tmp_path / "audit.pdf")
    assert ok.returncode == 0 and "VERIFIED" in ok.stdout, ok.stdout + ok.stderr
    assert check(tmp_path / "summary.pdf").returncode == 0
    for position in (200, len(audit_pdf) // 2, len(audit_pdf) - 300):
        changed = bytearray(audit_pdf)
        changed[position] ^= 0x01
        (tmp_path / "changed.pdf").write_bytes(bytes(changed))
        refused = check(tmp_path / "changed.pdf")
        assert refused.returncode == 1 and "NOT VERIFIED" in refused.stderr, (position, refused.stderr)
    (tmp_path / "appended.pdf").write_bytes(audit_pdf + b"\n%%EOF\n")
    assert check(tmp_path / "appended.pdf").returncode == 1
    # a real revision appended after the signature (what a PDF editor writes): the signed part is intact
    revised = IncrementalPdfFileWriter(io.BytesIO(audit_pdf), strict=False)
    revised.root["/Lang"] = generic.pdf_string("fr")
    revised.update_root()
    out = io.BytesIO()
    revised.write(out)
    (tmp_path / "revised.pdf").write_bytes(out.getvalue())
    assert "added to the PDF after it was signed" in check(tmp_path / "revised.pdf").stderr
    # signed by a key nobody published
    other = render(audit, "pdf", signing_key=load_report_key(tmp_path / "other/k.pem"))
    (tmp_path / "other.pdf").write_bytes(other)
    foreign = check(tmp_path / "other.pdf")
    assert foreign.returncode == 1 and "not by a published report key" in foreign.stderr
    unsigned = tmp_path / "unsigned.pdf"
    unsigned.write_bytes(render(audit, "pdf"))
    assert "no signature" in check(unsigned).stderr


def test_a_review_recorded_later_counts_the_decision_as_reviewed(store: Any, evidence: dict[str, Any]) -> None:
    record = evidence["record"]
    query = load_queries()["high_risk_without_review"]
    params = {"tenant": "acme", "from_date": str(TODAY - dt.timedelta(days=1)), "to_date": str(TODAY)}

    def unreviewed_ids() -> set[str]:
        return {r[1] for r in run_named(store, query, params).result_rows}

    before = unreviewed_ids()
    assert record.event_id in before
    summary = compliance_summary.build(store, "acme", TODAY - dt.timedelta(days=1), TODAY, verify_now=False)
    assert summary.data["high_risk_without_review"] == len(before) == summary.data["unreviewed_high_risk"]["count"]

    review = review_event(tenant_id="acme", reviewed_event_id=record.event_id, verdict="overridden",
                          note="Denial overturned: income was misread — Łukasz", reviewer="api-key:abc")
    rechained = chain(evidence["events"] + [review])
    # the same chain, one link longer: the review continues it
    assert rechained[-2]["hash"] == evidence["chained"][-1]["hash"]
    load(store, rechained[-1:])

    assert unreviewed_ids() == before - {record.event_id}
    after = compliance_summary.build(store, "acme", TODAY - dt.timedelta(days=1), TODAY, verify_now=True)
    assert after.data["high_risk_without_review"] == len(before) - 1
    # the console's faster count (the aggregates less the reviews since) says the same
    fast = compliance_summary.build(store, "acme", TODAY - dt.timedelta(days=1), TODAY, verify_now=False,
                                    for_display=True)
    assert fast.data["high_risk_without_review"] == len(before) - 1
    assert [x["high_risk_without_review"] for x in fast.data["decision_types"]] == [
        x["high_risk_without_review"] for x in after.data["decision_types"]]
    assert after.data["chain"]["status"] == "VERIFIED"
    audit = decision_audit.build(store, record.event_id, {}, "acme")
    assert [(r["verdict"], r["note"]) for r in audit.data["reviews"]] == [
        ("overridden", "Denial overturned: income was misread — Łukasz")]
    shown = _text(render(audit, "pdf"))
    assert "overridden" in shown, shown[shown.find("Human review"):][:400]
