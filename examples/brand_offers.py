"""Client code of the relabel story: list a brand's compute offers.

It names the brand and nothing else: no operator, no backend, no SDK. When the brand is
relabeled (new operator, new alias) this script does not change, and prints the same ids.

    CLOUDCAT_CONFIG=cloudcat.yaml python examples/brand_offers.py cloudwatt
"""

import sys

import cloudcat


def main(brand: str) -> None:
    with cloudcat.open_catalog() as catalog:
        for offer in catalog.offers(brand=brand, kind="compute", sort="id"):
            price = offer.price
            shown = f"{price.amount} {price.currency}/{price.unit}" if price else "price unknown"
            size = f"{offer.vcpus:>3} vCPU {offer.memory_mib:>7} MiB"
            print(f"{offer.id:<44} {offer.operator or '-':<28} {size}  {shown}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "cloudwatt")
