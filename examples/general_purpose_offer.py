"""Client code of the backend-swap story: get "a general-purpose 4 vCPU / 16 GiB offer in France".

It asks for the brand's logical offer by its stable id. Whether the brand runs on OpenStack
(a fixed flavor) or on Cloud Director (a flexible pool sized to 4 vCPU / 16 GiB) is catalog
data; this script does not change when the backend does.

    CLOUDCAT_CONFIG=cloudcat.yaml python examples/general_purpose_offer.py orange-iaas/gp-4-16
"""

import sys

import cloudcat


def main(offer_id: str) -> None:
    with cloudcat.open_catalog() as catalog:
        offer = catalog.get(offer_id)
        resolved = offer.extras.get("resolved", {})
        price = f"{offer.price.amount} {offer.price.currency}/{offer.price.unit}" if offer.price else "price unknown"
        print(f"{offer.id}: {offer.vcpus} vCPU / {offer.memory_mib} MiB in {offer.country}, {price}")
        print(f"  resolved to {resolved.get('offer')} on backend {resolved.get('backend')} ({offer.driver} driver)")
        print(f"  why: {resolved.get('reason')}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "orange-iaas/gp-4-16")
