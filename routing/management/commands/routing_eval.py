"""routing_eval: measure the routing engines offline on a labelled `text,category` CSV."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ccp.ai.evaluation import evaluate_routing, format_report, load_mapping, load_rows
from ccp.ai.outcomes import format_ablation, outcome_ablation
from ccp.ai.provider import provider_from_settings
from ccp.ai.tuning import stratified_split
from ccp.core.commands import domain_errors_as_command_errors


class Command(BaseCommand):
    help = (
        "Compare skills routing, the tuned model and the generative provider (when configured) on a "
        "text,category CSV: skill-group accuracy, macro-F1, intent accuracy, p50/p99 latency, training time."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dataset", help="CSV with the columns text,category, split into train and validation (seeded)"
        )
        parser.add_argument("--train", help="training CSV (text,category); needs --test: the official protocol")
        parser.add_argument("--test", help="test CSV (text,category); every engine is measured on all of it")
        parser.add_argument(
            "--mapping", help="JSON intent -> skill group (default: the bundled BANKING77 skill groups)"
        )
        parser.add_argument("--validation-share", type=float, default=0.2)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--provider-limit", type=int, default=200, help="validation rows sent to the generative provider"
        )
        parser.add_argument(
            "--heads",
            default="",
            help=(
                "comma-separated tuning heads to measure, the first is `tuned_model` (ensemble, svm, sgd; default "
                "ensemble when the sentence encoder is installed, else svm)"
            ),
        )
        parser.add_argument(
            "--ablation",
            action="store_true",
            help="also train on a simulated routing history with and without outcome weights (ccp.ai.outcomes)",
        )
        parser.add_argument("--misroute", type=float, default=0.3, help="share of misrouted history (--ablation)")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options) -> None:
        split = bool(options["dataset"])
        if split == bool(options["train"] or options["test"]) or bool(options["train"]) != bool(options["test"]):
            raise CommandError("Give either --dataset FILE, or --train FILE and --test FILE.")
        with domain_errors_as_command_errors():
            mapping = load_mapping(path=options["mapping"])
            rows = load_rows(path=options["dataset"] if split else options["train"], mapping=mapping)
            test_rows = None if split else load_rows(path=options["test"], mapping=mapping)
            report = evaluate_routing(
                rows=rows,
                test_rows=test_rows,
                test_dataset="" if split else options["test"],
                dataset=options["dataset"] if split else options["train"],
                validation_share=options["validation_share"],
                seed=options["seed"],
                provider=provider_from_settings(),
                provider_limit=options["provider_limit"],
                heads=[head.strip() for head in options["heads"].split(",") if head.strip()] or None,
            )
            ablation = None
            if options["ablation"]:
                if split:
                    train_rows, test_rows = stratified_split(
                        items=rows,
                        key=lambda row: row.intent,
                        share=options["validation_share"],
                        seed=options["seed"],
                    )
                else:
                    train_rows = rows
                ablation = outcome_ablation(
                    train=train_rows, test=test_rows, seed=options["seed"], misroute=options["misroute"]
                )
        if options["json"]:
            payload = report.as_dict()
            if ablation is not None:
                payload["ablation"] = [result.__dict__ for result in ablation]
            self.stdout.write(json.dumps(payload, indent=2))
        else:
            self.stdout.write(format_report(report=report))
            if ablation is not None:
                self.stdout.write("\n" + format_ablation(results=ablation, misroute=options["misroute"]))
