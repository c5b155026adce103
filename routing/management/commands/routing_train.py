"""routing_train: train a tenant's tuned model now, from its routing history or a labelled CSV."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ccp.core.commands import domain_errors_as_command_errors
from routing import services
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Train a tenant's tuned model. Without --dataset: from its RouteDecision history weighted by "
        "RouteFeedback. With --dataset (text,category CSV) and --mapping (intent -> skill group JSON; "
        "default: the bundled BANKING77 groups): bootstrap a fresh tenant. The new model becomes active "
        "only when it beats the active one on the same held-out rows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument("--dataset", help="CSV with the columns text,category")
        parser.add_argument("--mapping", help="JSON intent -> skill group")
        parser.add_argument("--validation-share", type=float, default=0.2)
        parser.add_argument("--max-rounds", type=int, default=20, help="SGD rounds at most (--head sgd only)")
        parser.add_argument(
            "--head",
            choices=["ensemble", "svm", "sgd"],
            default=None,
            help="the tuning layer's heads (default: ensemble when the sentence encoder is installed, else svm)",
        )

    def handle(self, *args, **options) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with the slug {options['tenant']!r}.")
        common = {
            "validation_share": options["validation_share"],
            "max_rounds": options["max_rounds"],
            "head": options["head"],
        }
        with domain_errors_as_command_errors():
            if options["dataset"]:
                result = services.tuned_model_train_from_csv(
                    tenant=tenant, dataset=options["dataset"], mapping=options["mapping"], **common
                )
            else:
                if options["mapping"]:
                    raise CommandError("--mapping goes with --dataset.")
                result = services.tuned_model_train(tenant=tenant, **common)
        metrics = result.record.metrics
        self.stdout.write(f"{tenant.slug}: {result.summary}")
        self.stdout.write(
            f"  rows {result.record.rows} (ignored {metrics.get('rows_ignored', 0)}), "
            f"macro-F1 {metrics.get('macro_f1')}, {result.record.training_seconds} s, status {result.record.status}"
        )
