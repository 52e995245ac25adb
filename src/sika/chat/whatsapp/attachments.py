"""Files people send: never downloaded, never opened; the dangerous ones are named as such.

Sika does not read attachments at all (the media id in the webhook is never fetched). Still, a file
that would run code on a phone or a computer ("facture.pdf.exe", "LOVE-LETTER-FOR-YOU.TXT.vbs", a
macro document, an Android package) is the mark of a scam: the dialog warns the person, and the
channel logs a security event on ``sika.security`` with the number and the file's name, never its
content.
"""

from __future__ import annotations

import logging
import unicodedata

from sika.chat.messages import Attachment

__all__ = ["DANGEROUS_EXTENSIONS", "DANGEROUS_MIME_TYPES", "dangerous", "screen"]

security = logging.getLogger("sika.security")

FILENAME_CHARS_MAX = 256

DANGEROUS_EXTENSIONS = frozenset({
    # Windows programs, installers, libraries and shortcuts
    "exe", "com", "scr", "pif", "cpl", "dll", "sys", "drv", "ocx", "msi", "msp", "mst", "msc", "lnk",
    "url", "scf", "inf", "ins", "isp", "reg", "application", "appref-ms", "gadget", "xll",
    # scripts
    "bat", "cmd", "vb", "vbs", "vbe", "vba", "js", "jse", "wsf", "wsh", "wsc", "ws", "sct", "shb", "shs",
    "ps1", "ps1xml", "ps2", "ps2xml", "psc1", "psc2", "psd1", "psm1", "hta", "sh", "bash", "zsh", "csh",
    "ksh", "command", "py", "pyw", "pyc", "pl", "rb", "php", "lua", "jar", "class",
    # other platforms' programs and packages
    "apk", "xapk", "apks", "aab", "ipa", "dex", "app", "pkg", "dmg", "deb", "rpm", "appimage", "run",
    "elf", "so", "dylib",
    # disk images that carry the above past warnings
    "iso", "img", "vhd", "vhdx",
    # documents that run macros, and web pages that run scripts
    "docm", "dotm", "xlsm", "xltm", "xlam", "pptm", "potm", "ppsm", "ppam", "sldm",
    "html", "htm", "xhtml", "shtml", "mht", "mhtml", "svg",
})

DANGEROUS_MIME_TYPES = frozenset({
    "application/x-msdownload", "application/x-msdos-program", "application/x-dosexec",
    "application/vnd.microsoft.portable-executable", "application/x-ms-installer", "application/x-msi",
    "application/x-ms-shortcut", "application/x-executable", "application/x-elf", "application/x-sharedlib",
    "application/x-mach-binary", "application/x-sh", "application/x-shellscript", "text/x-shellscript",
    "application/x-bat", "application/bat", "application/x-csh", "application/javascript",
    "application/x-javascript", "text/javascript", "application/ecmascript", "text/ecmascript",
    "text/vbscript", "application/x-vbscript", "application/hta", "application/x-powershell",
    "application/java-archive", "application/x-java-archive", "application/x-java-applet",
    "application/vnd.android.package-archive", "application/x-apple-diskimage",
    "application/x-iso9660-image", "application/x-python-code", "text/x-python", "text/x-perl",
    "application/x-perl", "application/x-php", "text/html", "application/xhtml+xml", "image/svg+xml",
    "application/vnd.ms-word.document.macroenabled.12", "application/vnd.ms-excel.sheet.macroenabled.12",
    "application/vnd.ms-powerpoint.presentation.macroenabled.12",
})

# Extensions people expect from harmless files: "x.pdf.exe" pretends to be one of them.
_DECOYS = frozenset({"txt", "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "jpg", "jpeg", "png", "gif",
                     "webp", "mp3", "mp4", "avi", "mov", "zip", "rar", "csv", "rtf", "odt"})


def dangerous(filename: str | None, mime_type: str | None) -> str | None:
    """Why a file must be refused, or None when nothing about its name or type is alarming."""
    if filename:
        reason = _name(filename[:FILENAME_CHARS_MAX])
        if reason is not None:
            return reason
    if mime_type:
        essence = mime_type.split(";", 1)[0].strip().lower()
        if essence in DANGEROUS_MIME_TYPES:
            return f"executable content type {essence}"
    return None


def screen(msisdn: str, attachment: Attachment | None) -> str | None:
    """:func:`dangerous`, logging a security event when the file is refused."""
    if attachment is None:
        return None
    reason = dangerous(attachment.filename, attachment.mime_type)
    if reason is not None:
        # %r: a file name is attacker-chosen and may hold newlines meant to forge log lines.
        security.warning("refused %s attachment from %s: file %r, %s", attachment.media_type, msisdn,
                         attachment.filename, reason)
    return reason


def _name(filename: str) -> str | None:
    if any(unicodedata.category(char) == "Cf" for char in filename):
        # U+202E and friends make "photo\u202egpj.exe" read "photoexe.jpg".
        return "file name hides its real extension with invisible formatting characters"
    # Only the last path component counts; Windows ignores trailing dots and spaces ("x.exe. ").
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].rstrip(" .").lower()
    parts = [part.strip() for part in base.split(".")]
    if len(parts) < 2:
        return None
    extension = parts[-1]
    if extension not in DANGEROUS_EXTENSIONS:
        return None
    if len(parts) >= 3 and parts[-2] in _DECOYS:
        return f"double extension .{parts[-2]}.{extension} hides a program"
    return f"executable file type .{extension}"
