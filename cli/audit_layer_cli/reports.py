"""Report jobs (decision audit, compliance summary) and the verification of a signed pdf."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from audit_layer_cli.common import (
    UserError,
    add_clickhouse,
    date,
    open_store,
    require_tenant,
    writable_out,
)


def cmd_report_verify(args: argparse.Namespace) -> int:
    from audit_layer_governance.reports.signature import SignatureInvalid, published_keys, verify_pdf

    if not args.file.is_file():
        raise UserError(f"{args.file} is not a file")
    trusted = published_keys(args.keys)
    if not trusted:
        raise UserError(f"no published report keys (*.pub) at {args.keys}; give --keys")
    try:
        check = verify_pdf(args.file.read_bytes(), trusted)
    except SignatureInvalid as exc:
        Console(stderr=True).print(f"[red]NOT VERIFIED[/red] {args.file}: {exc}")
        return 1
    Console().print(f"[green]VERIFIED[/green] {args.file}: signed {check.signed_at} by report key {check.key_id}; "
                    "the signature covers the whole file")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from audit_layer_governance.reports import compliance_summary, decision_audit
    from audit_layer_governance.reports.fonts import FontsMissing
    from audit_layer_governance.reports.render import render
    from audit_layer_governance.reports.signature import load_report_key
    from audit_layer_ledger.proofs import load_public_keys
    from rich.progress import Progress

    if args.report_type == "verify":
        return cmd_report_verify(args)
    writable_out(args.out)
    store = open_store(args)
    if args.report_type == "compliance-summary":
        require_tenant(store, args.tenant)
    keys = load_public_keys(args.public_keys)
    try:
        if args.report_type == "decision-audit":
            report = decision_audit.build(store, args.event_id, keys)
            name = f"decision-audit-{args.event_id}"
        else:
            with Progress(console=Console(stderr=True), transient=True) as bar:
                task = bar.add_task("compliance summary", total=len(compliance_summary.STEPS))
                report = compliance_summary.build(
                    store, args.tenant, args.start, args.end, verify_now=args.verify, public_keys=keys,
                    progress=lambda step: bar.update(task, advance=1, description=f"compliance summary: {step}"))
            name = f"compliance-summary-{args.tenant}-{args.start}-{args.end}"
    except (decision_audit.DecisionNotFound, ValueError) as exc:
        raise UserError(str(exc)) from None
    try:
        body = render(report, args.format,
                      signing_key=load_report_key(args.report_key) if args.format == "pdf" else None)
    except (FontsMissing, FileNotFoundError) as exc:
        raise UserError(str(exc)) from None
    out = args.out or (Path(f"{name}.pdf") if args.format == "pdf" else None)
    if out is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        out.write_bytes(body)
        Console(stderr=True).print(f"wrote {out} ({len(body):,} bytes)")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="report jobs: decision-audit, compliance-summary (json, csv, html, pdf)",
                       description="Reports an auditor signs. html and pdf carry the same charts; json and csv the "
                                   "same figures. Works while the pipeline runs.")
    reports = p.add_subparsers(dest="report_type", required=True, metavar="REPORT")
    r = reports.add_parser("decision-audit", help="one decision: record, enrichment reasons, chain position, proof")
    r.add_argument("event_id", help="the event's id (UUID)")
    r.add_argument("--public-keys", type=Path, default=Path("data/keys"),
                   help="trusted checkpoint public keys for the inclusion proof (default: data/keys)")
    r = reports.add_parser("compliance-summary", help="one tenant over a period, with charts")
    r.add_argument("--tenant", required=True)
    r.add_argument("--from", dest="start", required=True, type=date, help="first day, YYYY-MM-DD (UTC)")
    r.add_argument("--to", dest="end", required=True, type=date, help="last day, YYYY-MM-DD (UTC), inclusive")
    r.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                   help="verify the tenant's chain for this report (default); --no-verify cites the last recorded "
                        "verification, marked as not re-checked")
    r.add_argument("--public-keys", type=Path, default=Path("data/keys"),
                   help="trusted checkpoint public keys, for the verification (default: data/keys)")
    for r in reports.choices.values():
        add_clickhouse(r)
        r.add_argument("--format", choices=["json", "csv", "html", "pdf"], default="json",
                       help="output format (default: json)")
        r.add_argument("--out", type=Path, default=None,
                       help="write here (default: stdout; a pdf goes to a file named after the report)")
        r.add_argument("--report-key", type=Path, default=None,
                       help="the Ed25519 key that signs pdf reports (default: $AUDIT_LAYER_REPORT_KEY, else "
                            "data/report-keys/report-ed25519.pem, made on first use with its .pub beside it)")
    r = reports.add_parser("verify", help="check a pdf report's signature against the published report keys",
                           description="A pdf report is PAdES-signed with the operator's report key. This checks "
                                       "that the signature is intact, covers every byte of the file, and was made "
                                       "by a published key. Exit 0 when it holds, 1 when it does not.")
    r.add_argument("file", type=Path, help="the pdf report")
    r.add_argument("--keys", type=Path, default=Path("data/report-keys"),
                   help="the published report public keys: a .pub file or a folder of them "
                        "(default: data/report-keys)")


COMMANDS = {"report": cmd_report}
