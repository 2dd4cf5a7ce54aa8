"""`omnishop recs evaluate` (offline evaluation on the shared datasets) and `omnishop recs train`."""

from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

DATASETS_DIR = Path(settings.PROJECT_DIR).parent / "shared" / "datasets"


class Command(BaseCommand):
    requires_system_checks: list = []  # the offline evaluation needs no database or URLconf
    help = "Recommendations: evaluate models offline on the shared datasets, or retrain the shop's models."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        ev = sub.add_parser(
            "evaluate", help="Time-split offline evaluation (writes the recs.evaluate benchmark)."
        )
        ev.add_argument("--dataset", action="append", choices=["online_retail_uci", "complete_journey"])
        ev.add_argument(
            "--model", action="append", choices=["popularity", "itemknn", "ease", "content", "hybrid"]
        )
        ev.add_argument("--datasets-dir", default=str(DATASETS_DIR))
        ev.add_argument("--validation-users", type=int, default=1500)
        ev.add_argument(
            "--output", default=None, help="JSON path (default bench/results/recs.evaluate.json)."
        )
        tr = sub.add_parser("train", help="Retrain the shop's models from its events (a new version).")
        tr.add_argument(
            "--sync", action="store_true", help="Train in this process instead of a background job."
        )

    def handle(self, *args, **options):
        if options["action"] == "evaluate":
            return self._evaluate(options)
        return self._train(options)

    def _evaluate(self, options):
        from omnishop.recommendations.engine import evaluation

        folder = Path(options["datasets_dir"])
        if not folder.is_dir():
            raise CommandError(f"No datasets folder at {folder}.")
        datasets = options["dataset"] or ["online_retail_uci", "complete_journey"]
        models = tuple(options["model"] or [*evaluation.BASE_MODELS, "hybrid"])
        cases = []
        for dataset in datasets:
            outcomes = evaluation.run(
                dataset,
                folder / dataset,
                models=models,
                validation_cap=options["validation_users"],
                log=lambda line: self.stdout.write(line),
            )
            cases.extend(evaluation.as_cases(dataset, outcomes))
        sys.path.insert(0, str(settings.PROJECT_DIR))
        from bench.harness import RESULTS, BenchContext

        path = BenchContext().report("recs.evaluate", cases)
        if options["output"]:
            Path(options["output"]).write_text(path.read_text())
            path = Path(options["output"])
        self.stdout.write(f"written {path} ({RESULTS})")

    def _train(self, options):
        from omnishop.recommendations import services, tasks

        if not options["sync"]:
            tasks.train_models.delay()
            self.stdout.write("training queued (runs in-process at once when no Redis is configured)")
            return
        version = services.train()
        self.stdout.write(f"version {version.number}: {version.status} {version.message}".rstrip())
        self.stdout.write(f"  stats {version.stats}")
        self.stdout.write(f"  holdout {version.metrics}")
