"""The guided install form of the admin (FIG 9, 10): package, partner identifier, contact center, channels."""

from __future__ import annotations

from django import forms

from ccp.packages.choices import ChannelType
from ccp.packages.models import CommunicationPackage
from ccp.packages.selectors import latest_published_packages

from .models import ContactCenter, Tenant


class InstallForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.all())
    package = forms.ModelChoiceField(queryset=CommunicationPackage.objects.none(), empty_label="— choose a package —")
    partner_identifier = forms.CharField(max_length=80)
    contact_center_mode = forms.ChoiceField(
        choices=[("new", "Create a new contact center"), ("existing", "Add to an existing contact center")],
        widget=forms.RadioSelect,
        initial="new",
        label="",
    )
    contact_center_name = forms.CharField(max_length=200, required=False)
    contact_center = forms.ModelChoiceField(queryset=ContactCenter.objects.none(), required=False)

    def __init__(self, *args, tenant: Tenant | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        packages = latest_published_packages()
        self.fields["package"].queryset = CommunicationPackage.objects.filter(pk__in=[p.pk for p in packages])
        self.fields["package"].label_from_instance = lambda p: (
            f"{p.name} {p.version} — {p.developer_name} by {p.partner.name}"
        )
        if tenant is not None:
            del self.fields["tenant"]
            self.fields["contact_center"].queryset = ContactCenter.objects.filter(tenant=tenant)
        else:
            self.fields["contact_center"].queryset = ContactCenter.objects.select_related("tenant")

    def clean(self):
        data = super().clean()
        if data.get("contact_center_mode") == "existing":
            if not data.get("contact_center"):
                self.add_error("contact_center", "Choose the contact center to add the channels to.")
            elif "tenant" in data and data.get("tenant") and data["contact_center"].tenant_id != data["tenant"].pk:
                self.add_error("contact_center", "That contact center belongs to another tenant.")
        return data


class ChannelRowForm(forms.Form):
    channel_key = forms.SlugField(max_length=80, required=False)
    name = forms.CharField(max_length=200, required=False)
    channel_type = forms.ChoiceField(choices=ChannelType.choices, initial=ChannelType.MESSAGING)
    channel_address_id = forms.CharField(max_length=200, required=False)

    def clean(self):
        data = super().clean()
        key, address = data.get("channel_key"), data.get("channel_address_id")
        if bool(key) != bool(address):
            self.add_error("channel_key" if not key else "channel_address_id", "Give both the key and the address id.")
        return data


class BaseChannelFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        if not any(f.cleaned_data.get("channel_key") for f in self.forms):
            raise forms.ValidationError("Add at least one channel.")


ChannelFormSet = forms.formset_factory(ChannelRowForm, formset=BaseChannelFormSet, extra=3, max_num=20)
