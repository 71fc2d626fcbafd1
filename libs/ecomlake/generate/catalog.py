"""The product catalogue as column functions of (category index, product rank): no table, no join.

Categories follow REES46's dotted ``category_code`` tree; some categories have an id but no code,
as in the real data. Category ``c`` owns the product ids ``PRODUCT_ID_BASE + c * block + rank``,
where ``block`` is the number of products per category; rank 0 is the category's most popular
product. A product's brand and price are fixed draws from its id; about 1 in 8 has no brand.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

from ecomlake.generate.randomness import standard_normal, uniform, zipf_index

PRODUCT_ID_BASE = 1_000_000
CATEGORY_ID_BASE = 2_053_013_552_000_000_000
CATEGORY_ID_STEP = 7_919_031  # spreads category ids like REES46's 19-digit ids
NO_BRAND_SHARE = 0.12
PRICE_SIGMA = 0.6  # log-normal spread of prices within a category


@dataclass(frozen=True)
class Category:
    code: str | None  # None: the category has an id but no code, as many REES46 categories do
    median_price: float
    brands: tuple[str, ...]


# Ordered by popularity: the first is the most viewed (category choice is Zipf-like over this order).
CATEGORIES: tuple[Category, ...] = (
    Category("electronics.smartphone", 290.0, ("samsung", "apple", "xiaomi", "huawei", "oppo", "meizu", "nokia")),
    Category("electronics.clocks", 180.0, ("apple", "samsung", "casio", "garmin", "amazfit")),
    Category("computers.notebook", 640.0, ("lenovo", "hp", "asus", "acer", "apple", "dell")),
    Category("electronics.video.tv", 420.0, ("samsung", "lg", "sony", "philips", "hisense")),
    Category("electronics.audio.headphone", 60.0, ("apple", "sony", "jbl", "xiaomi", "sennheiser", "samsung")),
    Category(None, 45.0, ("lucente", "sokolov", "ariston", "bosch")),
    Category("appliances.kitchen.washer", 330.0, ("lg", "samsung", "bosch", "indesit", "beko")),
    Category("appliances.kitchen.refrigerators", 520.0, ("lg", "samsung", "bosch", "atlant", "indesit")),
    Category("appliances.environment.vacuum", 150.0, ("samsung", "philips", "dyson", "xiaomi", "bosch")),
    Category("apparel.shoes", 85.0, ("nike", "adidas", "puma", "reebok", "asics")),
    Category(None, 30.0, ("cordiant", "nokian", "tigar", "michelin")),
    Category("computers.desktop", 720.0, ("hp", "lenovo", "acer", "dell")),
    Category("appliances.kitchen.microwave", 95.0, ("samsung", "lg", "midea", "bosch")),
    Category("furniture.living_room.sofa", 560.0, ("ikea", "askona", "divan", "mebelvia")),
    Category("kids.toys", 25.0, ("lego", "hasbro", "mattel", "playmobil")),
    Category("auto.accessories.player", 70.0, ("pioneer", "kenwood", "sony", "prology")),
    Category("appliances.personal.hair_cutter", 40.0, ("philips", "braun", "remington", "polaris")),
    Category("electronics.tablet", 310.0, ("apple", "samsung", "huawei", "lenovo")),
    Category("sport.bicycle", 380.0, ("stels", "forward", "stern", "merida")),
    Category("computers.peripherals.printer", 210.0, ("hp", "canon", "epson", "brother")),
    Category(None, 12.0, ("faber", "erichkrause", "pilot")),
    Category("construction.tools.drill", 90.0, ("bosch", "makita", "dewalt", "metabo")),
    Category("furniture.bedroom.bed", 430.0, ("askona", "ikea", "ormatek")),
    Category("apparel.trousers", 45.0, ("levis", "wrangler", "lee", "mango")),
    Category("accessories.bag", 55.0, ("samsonite", "xiaomi", "tigernu", "guess")),
    Category("country_yard.lawn_mower", 260.0, ("bosch", "makita", "huter", "champion")),
    Category("medicine.tools.tonometer", 35.0, ("omron", "and", "microlife")),
    Category(None, 8.0, ("erichkrause", "hatber")),
    Category("appliances.kitchen.kettle", 30.0, ("tefal", "philips", "bosch", "redmond", "polaris")),
    Category("electronics.camera.photo", 540.0, ("canon", "nikon", "sony", "fujifilm")),
)
MAX_BRANDS = max(len(c.brands) for c in CATEGORIES)


def n_categories() -> int:
    return len(CATEGORIES)


def products_per_category(n_products: int) -> int:
    """Block size: every category gets the same number of product ids."""
    return max(1, -(-n_products // len(CATEGORIES)))


def category_code(category: Column) -> Column:
    return F.element_at(F.array(*[F.lit(c.code).cast("string") for c in CATEGORIES]), category.cast("int") + 1)


def category_id(category: Column) -> Column:
    return F.lit(CATEGORY_ID_BASE) + category * F.lit(CATEGORY_ID_STEP)


def product_id(category: Column, rank: Column, block: int) -> Column:
    return F.lit(PRODUCT_ID_BASE) + category * F.lit(block) + rank


def brand(seed: int, category: Column, product: Column) -> Column:
    """The product's brand: Zipf-like over the category's brands; NO_BRAND_SHARE of products have none."""
    brands = F.array(*[F.array(*[F.lit(b) for b in c.brands]) for c in CATEGORIES])
    of_category = F.element_at(brands, category.cast("int") + 1)
    pick = zipf_index(uniform(seed, "brand", product), F.size(of_category))
    has_brand = uniform(seed, "has_brand", product) >= F.lit(NO_BRAND_SHARE)
    return F.when(has_brand, F.element_at(of_category, (pick + 1).cast("int")))


def price(seed: int, category: Column, product: Column) -> Column:
    """A log-normal price around the category's median, fixed per product, in cents precision."""
    medians = F.array(*[F.lit(c.median_price) for c in CATEGORIES])
    median = F.element_at(medians, category.cast("int") + 1)
    draw = F.exp(F.log(median) + F.lit(PRICE_SIGMA) * standard_normal(seed, "price", product))
    return F.round(F.greatest(draw, F.lit(0.5)), 2)


def popular_category(u: Column) -> Column:
    """A category index, Zipf-like over CATEGORIES' order."""
    return zipf_index(u, len(CATEGORIES))
