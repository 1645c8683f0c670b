from django.db import models


class ImportBaseline(models.Model):
    """What `load_workplan` last loaded into one plan object, so a later load can tell
    the fields nobody touched from the fields someone edited since.

    The loader compares each field's live value with the value recorded here: equal
    means the field is as the loader left it, so a new value from the document may
    replace it; different means a partner (API) or staff (admin) changed it, and the
    loader keeps their value unless it is told to overwrite. An object without a
    baseline (created by hand, or loaded before baselines were recorded) has all its
    differing fields treated as edited.

    `values` holds the fields the document sets, named and written as in the object's
    audit snapshot (`PlanObject.audit_snapshot`: related objects by code, dates as ISO
    8601, decimals as text, a project's countries, participating agencies and links as
    sorted lists), so it compares directly with the live snapshot. Rows are keyed like
    the audit trail, by public type and code (codes are never reused), and are written
    only when the document's values change: a load that changes nothing writes nothing.
    """

    object_type = models.CharField(max_length=20)
    code = models.CharField(max_length=32)
    values = models.JSONField(default=dict, help_text="The document's values, as last loaded.")
    loaded_at = models.DateTimeField(help_text="When these values were loaded.")

    class Meta:
        ordering = ["object_type", "code"]
        constraints = [
            models.UniqueConstraint(fields=["object_type", "code"], name="one_baseline_per_object"),
        ]

    def __str__(self) -> str:
        return f"{self.object_type} {self.code} as loaded {self.loaded_at:%Y-%m-%d %H:%M}"
