"""``choso vietqr``: make, read and draw VietQR payloads from the command line.

Contract (scripts rely on it): ``encode`` prints the payload and nothing else on stdout;
``decode`` prints one JSON object; ``image`` writes a PNG or SVG file. Anything invalid exits 2
with the reason on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from payments import banks, vietqr

app = typer.Typer(help="VietQR payloads (NAPAS bank-transfer QR codes).", no_args_is_help=True)

INVALID = 2


def _fail(message: str, code: int = INVALID) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command("encode")
def encode(
    bin: Annotated[
        str, typer.Option("--bin", help="Acquirer BIN of the payee's bank (6 digits, NAPAS list).")
    ],
    account: Annotated[str, typer.Option(help="Payee's account number (or card number with --card).")],
    amount: Annotated[int | None, typer.Option(help="Amount in whole đồng (needed unless --static).")] = None,
    purpose: Annotated[
        str | None, typer.Option(help="Transfer memo (tag 62.08), at most 25 characters; diacritics removed.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Payee name (tag 59); diacritics removed.")] = None,
    city: Annotated[str | None, typer.Option(help="Payee city (tag 60); diacritics removed.")] = None,
    static: Annotated[
        bool, typer.Option("--static", help="Reusable QR (01=11) instead of one payment.")
    ] = False,
    card: Annotated[
        bool, typer.Option("--card", help="The number is a card (QRIBFTTC), not an account.")
    ] = False,
) -> None:
    """Print the VietQR payload for a transfer."""
    try:
        banks.validate_bin(bin)
        payload = vietqr.encode(
            bin=bin,
            account=account,
            amount=amount,
            purpose=_folded(purpose),
            name=_folded(name),
            city=_folded(city),
            static=static,
            service=vietqr.SERVICE_CARD if card else vietqr.SERVICE_ACCOUNT,
        )
    except (banks.UnknownBin, vietqr.VietQRError) as exc:
        _fail(str(exc))
    typer.echo(payload)


def _folded(text: str | None) -> str | None:
    return None if text is None else vietqr.fold_ascii(text)


@app.command("decode")
def decode(
    payload: Annotated[str, typer.Argument(help="The payload text, or - to read it from stdin.")],
    ignore_crc: Annotated[
        bool, typer.Option("--ignore-crc", help="Decode despite a wrong CRC (crc_ok tells).")
    ] = False,
) -> None:
    """Print the fields of a VietQR payload as one JSON object."""
    if payload == "-":
        payload = sys.stdin.read().rstrip("\r\n")
    try:
        decoded = vietqr.decode(payload, check_crc=not ignore_crc)
    except vietqr.VietQRError as exc:
        _fail(f"invalid VietQR payload: {exc}")
    typer.echo(json.dumps(decoded.as_json(), ensure_ascii=False))


@app.command("image")
def image(
    payload: Annotated[str, typer.Argument(help="A valid VietQR payload.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write: FILE.png or FILE.svg.")],
) -> None:
    """Draw a VietQR payload as a QR code image (PNG or SVG, by the file's suffix)."""
    from payments import qr_render  # imaging libraries load only for this command

    suffix = output.suffix.lower()
    if suffix not in (".png", ".svg"):
        _fail(f"output must end in .png or .svg, got {output.name!r}")
    try:
        vietqr.decode(payload)
    except vietqr.VietQRError as exc:
        _fail(f"invalid VietQR payload: {exc}")
    drawing = qr_render.render_png(payload) if suffix == ".png" else qr_render.render_svg(payload)
    try:
        output.write_bytes(drawing)
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror}", code=1)


@app.command("banks")
def list_banks() -> None:
    """List the NAPAS banks (BIN, code, short name, name), one per line, tab-separated."""
    for bank in banks.bank_list().banks:
        former = "" if bank.current else f"\t(former name; now {bank.succeeded_by})"
        typer.echo(f"{bank.bin}\t{bank.code}\t{bank.short_name}\t{bank.name}{former}")
