from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.proposals.services import FSARParseError, proposal_ingest, report_size_check

REPORT_SUFFIXES = {".txt", ".md"}


class Command(BaseCommand):
    help = (
        "Import FSAR proposal reports from files or folders (every .txt/.md file in them, recursively). "
        "Each file is imported or refused on its own; exits 1 if any failed or conflicted."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")

    def handle(self, *args, paths, **options):
        files = self._files(paths)
        counts = {"imported": 0, "unchanged": 0, "failed": 0}
        for file in files:
            try:
                report_size_check(file.stat().st_size)  # before reading it: it may be huge
                result = proposal_ingest(data=file.read_bytes(), source=f"file: {file.name}")
            except (FSARParseError, OSError) as error:
                counts["failed"] += 1
                self.stderr.write(f"{file}: failed: {error}")
                continue
            if result.outcome == "conflict":
                counts["failed"] += 1
                self.stderr.write(f"{file}: conflict: {result.detail}")
            else:
                counts[result.outcome] += 1
                self.stdout.write(f"{file}: {result.outcome} {result.proposal.report_id}")
        summary = ", ".join(f"{name} {count}" for name, count in counts.items())
        if counts["failed"]:
            raise CommandError(summary, returncode=1)
        self.stdout.write(self.style.SUCCESS(summary))

    @staticmethod
    def _files(paths: list[Path]) -> list[Path]:
        files = []
        for path in paths:
            if path.is_dir():
                files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in REPORT_SUFFIXES)
            elif path.is_file():
                files.append(path)
            else:
                raise CommandError(f"{path}: no such file or folder")
        return files
