"""The question bank: templates x slot fillers over many everyday and general-knowledge categories.

Every question carries a `group` (one fact or one slot filler): all phrasings of a group land in the
same split, so the splits never share a question text nor a paraphrase of one. Factual categories
carry a short reference answer; open categories (advice, definitions, explanations, ...) have none.
Questions written by the backbone LLM are added by `vocalnet.data.answers.write_llm_questions`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

LLM_CATEGORY = "llm_written"
FACTUAL_CATEGORIES = frozenset({
    "capitals", "geography", "animals", "colours", "opposites", "arithmetic", "calendar", "units",
    "science", "space", "food", "sports", "history", "literature", "art", "music", "comparisons", "words",
})
OPEN_CATEGORIES = frozenset({"advice", "health", "definitions", "explanations", "suggestions", "chat", LLM_CATEGORY})


@dataclass(frozen=True)
class Question:
    """One question text with its category, short reference answer (factual only) and paraphrase group."""

    text: str
    category: str
    reference: str | None
    group: str


def normalize(text: str) -> str:
    """Comparison key: lower case, letters/digits only, single spaces."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


_A_BEFORE_VOWEL = re.compile(r"\b([Aa]) (?=[aeioAEIO]|[uU](?!k|ni|se))")


def _cap(text: str) -> str:
    """Capitalised first letter, and 'an' before a vowel sound ("a owl" -> "an owl")."""
    text = _A_BEFORE_VOWEL.sub(r"\1n ", text)
    return text[:1].upper() + text[1:]


def _rows(table: str, fields: int = 2) -> list[list[str]]:
    """Parse 'a|b; c|d' into [[a, b], [c, d]] (each row must have `fields` fields)."""
    rows = [[" ".join(f.split()) for f in row.split("|")] for row in table.split(";") if row.strip()]
    bad = [r for r in rows if len(r) != fields]
    if bad:
        raise ValueError(f"malformed question table rows: {bad[:3]}")
    return rows


def _family(category: str, family: str, phrasings: Sequence[str],
            rows: Iterable[tuple[dict[str, str], str | None]], group_key: str = "x") -> list[Question]:
    """Every phrasing x every row of slot values; the group is (family, slot `group_key`)."""
    return [
        Question(_cap(p.format(**slots)), category, ref, f"{category}/{family}/{slots[group_key]}")
        for slots, ref in rows
        for p in phrasings
    ]


def _simple(category: str, family: str, phrasings: Sequence[str], table: str) -> list[Question]:
    """A family whose rows are 'filler|reference' pairs."""
    return _family(category, family, phrasings, (({"x": x}, ref) for x, ref in _rows(table)))


def _pairs(category: str, table: str) -> list[Question]:
    """Hand-written facts: 'question 1 / question 2 = reference' separated by ';' (reference optional)."""
    out = []
    for i, row in enumerate(r for r in table.split(";") if r.strip()):
        texts, _, ref = row.partition("=")
        out += [Question(" ".join(t.split()), category, " ".join(ref.split()) or None, f"{category}/pair/{i}")
                for t in texts.split("/")]
    return out


# ----------------------------------------------------------------------------------------------- data

COUNTRIES = _rows("""
France|Paris|Europe|French; Germany|Berlin|Europe|German; Italy|Rome|Europe|Italian; Spain|Madrid|Europe|Spanish;
Portugal|Lisbon|Europe|Portuguese; Japan|Tokyo|Asia|Japanese; China|Beijing|Asia|Mandarin Chinese; India|New
Delhi|Asia|Hindi and English; Russia|Moscow|Europe and Asia|Russian; Canada|Ottawa|North America|English and French;
Australia|Canberra|Oceania|English; Brazil|Brasilia|South America|Portuguese; Argentina|Buenos Aires|South
America|Spanish; Mexico|Mexico City|North America|Spanish; Egypt|Cairo|Africa|Arabic; Kenya|Nairobi|Africa|Swahili and
English; Nigeria|Abuja|Africa|English; Greece|Athens|Europe|Greek; Turkey|Ankara|Europe and Asia|Turkish;
Ireland|Dublin|Europe|English and Irish; the United Kingdom|London|Europe|English; Norway|Oslo|Europe|Norwegian;
Sweden|Stockholm|Europe|Swedish; Finland|Helsinki|Europe|Finnish and Swedish; Denmark|Copenhagen|Europe|Danish;
Poland|Warsaw|Europe|Polish; Austria|Vienna|Europe|German; Belgium|Brussels|Europe|Dutch, French and German; the
Netherlands|Amsterdam|Europe|Dutch; Hungary|Budapest|Europe|Hungarian; the Czech Republic|Prague|Europe|Czech;
Iceland|Reykjavik|Europe|Icelandic; Thailand|Bangkok|Asia|Thai; Vietnam|Hanoi|Asia|Vietnamese; South
Korea|Seoul|Asia|Korean; Indonesia|Jakarta|Asia|Indonesian; the Philippines|Manila|Asia|Filipino and English;
Malaysia|Kuala Lumpur|Asia|Malay; Pakistan|Islamabad|Asia|Urdu and English; Iran|Tehran|Asia|Persian;
Iraq|Baghdad|Asia|Arabic and Kurdish; Saudi Arabia|Riyadh|Asia|Arabic; Peru|Lima|South America|Spanish;
Chile|Santiago|South America|Spanish; Colombia|Bogota|South America|Spanish; Venezuela|Caracas|South America|Spanish;
Cuba|Havana|North America|Spanish; Jamaica|Kingston|North America|English; New Zealand|Wellington|Oceania|English and
Maori; Morocco|Rabat|Africa|Arabic and Berber; Ethiopia|Addis Ababa|Africa|Amharic; Ghana|Accra|Africa|English;
Romania|Bucharest|Europe|Romanian; Bulgaria|Sofia|Europe|Bulgarian; Serbia|Belgrade|Europe|Serbian;
Croatia|Zagreb|Europe|Croatian; Ukraine|Kyiv|Europe|Ukrainian; Lithuania|Vilnius|Europe|Lithuanian;
Latvia|Riga|Europe|Latvian; Estonia|Tallinn|Europe|Estonian; Slovakia|Bratislava|Europe|Slovak;
Slovenia|Ljubljana|Europe|Slovenian; Afghanistan|Kabul|Asia|Pashto and Dari; Nepal|Kathmandu|Asia|Nepali;
Bangladesh|Dhaka|Asia|Bengali; Mongolia|Ulaanbaatar|Asia|Mongolian; Qatar|Doha|Asia|Arabic;
Syria|Damascus|Asia|Arabic; Lebanon|Beirut|Asia|Arabic; Jordan|Amman|Asia|Arabic; Uruguay|Montevideo|South
America|Spanish; Paraguay|Asuncion|South America|Spanish and Guarani; Ecuador|Quito|South America|Spanish;
Tunisia|Tunis|Africa|Arabic; Algeria|Algiers|Africa|Arabic and Berber; Libya|Tripoli|Africa|Arabic;
Sudan|Khartoum|Africa|Arabic and English; Uganda|Kampala|Africa|English and Swahili; Zimbabwe|Harare|Africa|English
and Shona; Zambia|Lusaka|Africa|English; Senegal|Dakar|Africa|French; the United States|Washington, D.C.|North
America|English; Malta|Valletta|Europe|Maltese and English; Cyprus|Nicosia|Europe|Greek and Turkish;
Albania|Tirana|Europe|Albanian; Georgia|Tbilisi|Europe and Asia|Georgian; Armenia|Yerevan|Asia|Armenian;
Azerbaijan|Baku|Asia|Azerbaijani; Kazakhstan|Astana|Asia|Kazakh and Russian; Uzbekistan|Tashkent|Asia|Uzbek;
Cambodia|Phnom Penh|Asia|Khmer; Laos|Vientiane|Asia|Lao; Panama|Panama City|North America|Spanish; Costa Rica|San
Jose|North America|Spanish; Honduras|Tegucigalpa|North America|Spanish; Guatemala|Guatemala City|North
America|Spanish; Nicaragua|Managua|North America|Spanish; El Salvador|San Salvador|North America|Spanish; the
Dominican Republic|Santo Domingo|North America|Spanish; Haiti|Port-au-Prince|North America|French and Haitian Creole;
Madagascar|Antananarivo|Africa|Malagasy and French; Angola|Luanda|Africa|Portuguese;
Mozambique|Maputo|Africa|Portuguese; Namibia|Windhoek|Africa|English; Botswana|Gaborone|Africa|English and Setswana;
Rwanda|Kigali|Africa|Kinyarwanda; Cameroon|Yaounde|Africa|French and English; Mali|Bamako|Africa|French and Bambara;
Switzerland|Bern|Europe|German, French and Italian
""", 4)

LANDMARKS = """
the Eiffel Tower|France; the Colosseum|Italy; the Great Wall|China; the Taj Mahal|India; the Statue of Liberty|the
United States; Big Ben|the United Kingdom; the Pyramids of Giza|Egypt; Machu Picchu|Peru; the Sydney Opera
House|Australia; the statue of Christ the Redeemer|Brazil; Mount Fuji|Japan; the Acropolis|Greece; the Sagrada
Familia|Spain; the Kremlin|Russia; Angkor Wat|Cambodia; Petra|Jordan; Stonehenge|the United Kingdom; the Leaning Tower
of Pisa|Italy; the Golden Gate Bridge|the United States; Mount Kilimanjaro|Tanzania; Table Mountain|South Africa;
Chichen Itza|Mexico; Neuschwanstein Castle|Germany; the Brandenburg Gate|Germany; the Louvre|France; the
Alhambra|Spain; the Forbidden City|China; the Hagia Sophia|Turkey; the Burj Khalifa|the United Arab Emirates; the
Grand Canyon|the United States; Uluru|Australia; the Matterhorn|Switzerland; Victoria Falls|Zambia and Zimbabwe; the
Blue Mosque|Turkey; the Parthenon|Greece
"""

GEOGRAPHY_FACTS = """
What is the largest ocean on Earth? / Which ocean is the biggest? = the Pacific Ocean; What is the longest river in
the world? / Which river is the longest on Earth? = the Nile; What is the tallest mountain in the world? / Which
mountain is the highest on Earth? = Mount Everest; What is the largest hot desert in the world? / Which hot desert is
the biggest? = the Sahara; What is the largest country by area? / Which country covers the most land? = Russia; What
is the smallest continent? / Which continent is the smallest? = Australia; How many continents are there? / How many
continents does the Earth have? = seven; How many oceans are there on Earth? / How many oceans does our planet have? =
five; What is the largest continent? / Which continent is the biggest? = Asia; What is the largest island in the
world? / Which island is the biggest on Earth? = Greenland; What is the longest river in South America? / Which river
flows through the Amazon rainforest? = the Amazon; What is the smallest country in the world? / Which country is the
tiniest on Earth? = Vatican City; Which sea is so salty that people float in it easily? / What sea is famous for being
extremely salty? = the Dead Sea; What is the coldest continent? / Which continent is covered by a huge ice sheet? =
Antarctica; Which line divides the Earth into the northern and southern hemispheres? / What is the equator? = the
equator; What is the capital city of the state of California? / Which city is California's capital? = Sacramento; What
is the largest lake in Africa? / Which African lake is the biggest? = Lake Victoria; Which mountain range separates
Europe and Asia? / What mountains form the border between Europe and Asia? = the Ural Mountains; Which country is
shaped like a boot? / What European country looks like a boot on the map? = Italy; Which river flows through London? /
What is the name of the river in London? = the Thames; Which river flows through Paris? / What river runs through
Paris? = the Seine; What is the largest rainforest in the world? / Which rainforest is the biggest? = the Amazon
rainforest; Which country has the most people? / What is the most populated country in the world? = India; What is the
deepest ocean trench? / Where is the deepest point in the ocean? = the Mariana Trench; Which country has the most
islands? / What country is made of the most islands? = Sweden; What is the highest waterfall in the world? / Which
waterfall is the tallest on Earth? = Angel Falls; What is the largest city in the United States? / Which American city
has the most people? = New York City; Which country is known as the Land of the Rising Sun? / What country is called
the Land of the Rising Sun? = Japan; Which two countries share the longest border? / What countries share the longest
international border? = Canada and the United States; What is the longest mountain range in the world? / Which
mountain range is the longest? = the Andes
"""

ANIMAL_SOUNDS = """
dog|it barks; cat|it meows; cow|it moos; sheep|it baas; duck|it quacks; pig|it oinks; horse|it neighs; lion|it roars;
owl|it hoots; snake|it hisses; frog|it croaks; bee|it buzzes; rooster|it crows; donkey|it brays; wolf|it howls;
mouse|it squeaks; goat|it bleats; crow|it caws; dove|it coos; turkey|it gobbles; elephant|it trumpets; bear|it growls;
chicken|it clucks; hyena|it laughs; cricket|it chirps
"""

ANIMAL_BABIES = """
dog|a puppy; cat|a kitten; cow|a calf; sheep|a lamb; horse|a foal; pig|a piglet; goat|a kid; duck|a duckling; frog|a
tadpole; kangaroo|a joey; bear|a cub; lion|a cub; deer|a fawn; swan|a cygnet; goose|a gosling; owl|an owlet;
butterfly|a caterpillar; hen|a chick; eagle|an eaglet; seal|a pup; whale|a calf; fox|a kit; tiger|a cub; elephant|a
calf; rabbit|a kit; giraffe|a calf; zebra|a foal; penguin|a chick; wolf|a pup; dolphin|a calf
"""

ANIMAL_CLASSES = """
whale|a mammal; dolphin|a mammal; bat|a mammal; penguin|a bird; ostrich|a bird; eagle|a bird; shark|a fish; salmon|a
fish; frog|an amphibian; salamander|an amphibian; snake|a reptile; crocodile|a reptile; turtle|a reptile; lizard|a
reptile; ant|an insect; bee|an insect; butterfly|an insect; spider|an arachnid; octopus|a mollusc; kangaroo|a mammal;
platypus|a mammal; owl|a bird; parrot|a bird; tuna|a fish; goldfish|a fish; toad|an amphibian; beetle|an insect;
ladybug|an insect; koala|a mammal; elephant|a mammal; tiger|a mammal; hawk|a bird; chicken|a bird; seahorse|a fish;
cobra|a reptile; newt|an amphibian; grasshopper|an insect; scorpion|an arachnid; snail|a mollusc; seal|a mammal;
flamingo|a bird; alligator|a reptile; chameleon|a reptile; mosquito|an insect; camel|a mammal
"""

ANIMAL_LEGS = """
spider|eight; ant|six; dog|four; chicken|two; horse|four; cat|four; cow|four; bee|six; butterfly|six; duck|two;
ostrich|two; penguin|two; crab|ten; lobster|ten; frog|four; lizard|four; snake|none; elephant|four; ladybug|six;
beetle|six; scorpion|eight; mosquito|six; giraffe|four; parrot|two; fly|six; tick|eight; goat|four; owl|two
"""

ANIMAL_FACTS = """
What do pandas mostly eat? / What is a giant panda's favourite food? = bamboo; What do koalas eat? / What kind of
leaves do koalas eat? = eucalyptus leaves; What do bees make? / What sweet food do bees produce? = honey; What is the
fastest land animal? / Which animal runs the fastest on land? = the cheetah; What is the largest animal on Earth? /
Which animal is the biggest that ever lived? = the blue whale; What is the tallest animal in the world? / Which animal
has the longest neck? = the giraffe; What is the largest land animal? / Which land animal is the heaviest? = the
African elephant; What is the largest bird in the world? / Which bird is the biggest? = the ostrich; Which bird is a
symbol of peace? / What bird stands for peace? = the dove; Which animal is known as the king of the jungle? / What
animal is called the king of the jungle? = the lion; What animal has black and white stripes? / Which African animal
looks like a striped horse? = the zebra; What does a caterpillar turn into? / What does a caterpillar become when it
grows up? = a butterfly or a moth; Which animal carries its house on its back? / What slow animal has a shell on its
back? = a snail or a tortoise; How many humps does a dromedary camel have? / How many humps are on a dromedary? = one;
What is a group of wolves called? / What do you call a group of wolves? = a pack; What is a group of fish called? /
What do you call many fish swimming together? = a school; What is a group of lions called? / What do you call a family
of lions? = a pride; What is a group of crows called? / What do you call a group of crows? = a murder; Which animal
can change its colour to blend in? / What lizard is famous for changing colour? = the chameleon; Do bats see with
sound? / How do bats find their way in the dark? = they use echolocation; Which mammal can fly? / What is the only
mammal that truly flies? = the bat; Where do polar bears live? / In which region do polar bears live? = the Arctic;
Where do penguins mostly live? / In which part of the world do most penguins live? = the Southern Hemisphere; How long
can a tortoise live? / What is the lifespan of a giant tortoise? = more than a hundred years; What do cows eat? / What
is a cow's main food? = grass; Which animal sleeps hanging upside down? / What animal hangs upside down to sleep? =
the bat; What animal is known for its black mask and ringed tail? / Which animal looks like it wears a black mask? =
the raccoon; Which bird cannot fly but is a fast runner? / What fast-running bird cannot fly? = the ostrich
"""

COLOUR_THINGS = """
a banana|yellow; grass|green; the sky on a sunny day|blue; snow|white; coal|black; a ripe strawberry|red; a
carrot|orange; a lemon|yellow; a ripe tomato|red; a lime|green; chocolate|brown; milk|white; a cherry|red; a
pumpkin|orange; a frog|green; a crow|black; a flamingo|pink; a polar bear|white; an emerald|green; a ruby|red; a
sapphire|blue; a cucumber|green; an eggplant|purple; a school bus|yellow; a fire truck|red; blood|red; a pig|pink; a
cloud|white; lavender|purple; a sunflower|yellow; a tree trunk|brown; a leaf in summer|green; charcoal|black;
salt|white; broccoli|green; a raspberry|red; a blueberry|blue; corn|yellow; coffee|brown; a zebra|black and white; a
penguin|black and white; a canary|yellow; a tangerine|orange; a plum|purple; the inside of a watermelon|red; a
panda|black and white; a stop sign|red; a taxi in New York|yellow; the ocean|blue; a ladybug|red with black spots; a
lion|golden brown; an elephant|grey
"""

COLOUR_MIXES = """
red|yellow|orange; blue|yellow|green; red|blue|purple; red|white|pink; black|white|grey; blue|white|light blue;
red|green|brown; yellow|purple|brown; blue|orange|brown; green|white|light green; yellow|white|cream
"""

OPPOSITES = """
hot|cold; big|small; up|down; happy|sad; fast|slow; open|closed; early|late; young|old; tall|short; rich|poor;
full|empty; loud|quiet; hard|soft; wet|dry; day|night; in|out; left|right; push|pull; strong|weak; thick|thin;
heavy|light; clean|dirty; cheap|expensive; win|lose; true|false; love|hate; friend|enemy; begin|end; above|below;
inside|outside; first|last; always|never; before|after; buy|sell; give|take; laugh|cry; remember|forget;
accept|refuse; asleep|awake; ancient|modern; brave|cowardly; deep|shallow; wide|narrow; smooth|rough; sharp|blunt;
tight|loose; north|south; east|west; summer|winter; question|answer; entrance|exit; positive|negative;
maximum|minimum; increase|decrease; success|failure; victory|defeat; generous|selfish; polite|rude; safe|dangerous;
simple|complicated; wild|tame; smile|frown; visible|invisible; possible|impossible; legal|illegal; correct|incorrect;
private|public; optimistic|pessimistic; include|exclude; import|export; ascend|descend; present|absent; top|bottom;
near|far; high|low; long|short; sunrise|sunset; borrow|lend; catch|throw; hello|goodbye; yes|no; on|off; start|finish;
arrive|depart; sweet|sour; guilty|innocent; shout|whisper; float|sink; freeze|melt; noisy|silent; cruel|kind;
healthy|sick; dangerous|safe; hungry|full; beautiful|ugly; easy|difficult; good|bad; war|peace
"""

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
MONTH_DAYS = [31, "28, or 29 in a leap year", 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
SEASONS = ["winter"] * 2 + ["spring"] * 3 + ["summer"] * 3 + ["autumn"] * 3 + ["winter"]
ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
            "eleventh", "twelfth"]

CALENDAR_FACTS = """
How many days are in a week? / How many days does a week have? = seven; How many months are in a year? / How many
months does a year have? = twelve; How many days are in a leap year? / How long is a leap year in days? = 366; How
many days are in a normal year? / How many days does a regular year have? = 365; How often does a leap year happen? /
How many years are between leap years? = every four years; Which days make up the weekend? / What days are the
weekend? = Saturday and Sunday; What is the first day of the week in the United States? / Which day starts the week on
an American calendar? = Sunday; What is the shortest month of the year? / Which month has the fewest days? = February;
On which date is New Year's Day? / When is New Year's Day? = January first; When is Christmas Day? / On what date do
people celebrate Christmas? = December twenty-fifth; When is Halloween? / On what date is Halloween? = October
thirty-first; When is Valentine's Day? / On what date is Valentine's Day? = February fourteenth; How many weeks are in
a year? / How many weeks does a year have? = fifty-two; How many seasons are there in a year? / How many seasons does
a year have? = four; What is the last month of the year? / Which month ends the year? = December; What is the first
month of the year? / Which month starts the year? = January
"""

UNIT_FACTS = """
centimetres|a metre|100; grams|a kilogram|1,000; minutes|an hour|60; seconds|a minute|60; hours|a day|24; days|a
week|7; months|a year|12; inches|a foot|12; feet|a yard|3; ounces|a pound|16; millilitres|a litre|1,000; metres|a
kilometre|1,000; millimetres|a centimetre|10; years|a decade|10; years|a century|100; years|a millennium|1,000;
cents|a dollar|100; pennies|a pound sterling|100; items|a dozen|12; sides|a hexagon|6; sides|a triangle|3; sides|an
octagon|8; degrees|a right angle|90; degrees|a full circle|360; minutes|a quarter of an hour|15; weeks|a year|52;
sides|a pentagon|5; cups|a pint|2; quarts|a gallon|4; pints|a quart|2
"""

UNIT_CONVERSIONS = [("minutes", "hours", 60), ("seconds", "minutes", 60), ("days", "weeks", 7),
                    ("centimetres", "metres", 100), ("grams", "kilograms", 1000), ("months", "years", 12),
                    ("hours", "days", 24), ("millimetres", "centimetres", 10), ("metres", "kilometres", 1000),
                    ("years", "decades", 10), ("eggs", "dozen", 12)]

ELEMENTS = """
gold|Au; silver|Ag; iron|Fe; oxygen|O; hydrogen|H; carbon|C; nitrogen|N; sodium|Na; potassium|K; helium|He; copper|Cu;
lead|Pb; calcium|Ca; zinc|Zn; tin|Sn; mercury|Hg; neon|Ne; chlorine|Cl; sulfur|S; magnesium|Mg; aluminium|Al;
silicon|Si; uranium|U; phosphorus|P; fluorine|F; iodine|I; nickel|Ni; platinum|Pt; lithium|Li; argon|Ar
"""

SCIENCE_FACTS = """
What is the boiling point of water in Celsius? / At what temperature does water boil in degrees Celsius? = 100
degrees; What is the freezing point of water in Celsius? / At what temperature does water freeze in Celsius? = 0
degrees; What gas do plants take in from the air? / Which gas do plants absorb to make food? = carbon dioxide; What
gas do we need to breathe to stay alive? / Which gas do our lungs take from the air? = oxygen; What is the chemical
formula for water? / What is water made of? = H2O; What force pulls things toward the ground? / Why do things fall
down instead of up? = gravity; How many bones are in the adult human body? / How many bones does a grown-up have? =
206; What is the largest organ of the human body? / Which organ covers the whole body? = the skin; Which organ pumps
blood around the body? / What organ makes blood flow through our veins? = the heart; What is the centre of an atom
called? / What is at the middle of an atom? = the nucleus; How fast does light travel? / What is the speed of light? =
about 300,000 kilometres per second; What do bees collect from flowers? / What do bees gather from flowers to make
honey? = nectar; What is the hardest natural material? / Which natural substance is the hardest? = diamond; What do we
call frozen water? / What does water become when it freezes? = ice; What process do plants use to make food from
sunlight? / How do plants turn sunlight into food? = photosynthesis; Which part of a plant takes in water from the
soil? / How does a plant drink water? = the roots; How many teeth does an adult usually have? / How many teeth do
grown-ups have? = 32; What is the study of living things called? / What science studies plants and animals? = biology;
What are clouds made of? / What is inside a cloud? = tiny water droplets or ice crystals; What instrument measures
temperature? / What do we use to measure how hot something is? = a thermometer; What does a barometer measure? / What
is a barometer used for? = air pressure; What is the chemical name for table salt? / What is table salt made of? =
sodium chloride; Which blood cells fight infections? / What part of the blood fights germs? = white blood cells; What
is the most common gas in the air? / Which gas makes up most of the atmosphere? = nitrogen; What is the smallest unit
of life? / What are all living things made of? = the cell; How many chromosomes do humans have? / How many chromosomes
are in a human cell? = 46; Which metal is liquid at room temperature? / What metal is a liquid when it is not heated?
= mercury; What is the unit of electrical resistance? / In what unit do we measure resistance? = the ohm; What is the
unit of force? / In what unit do scientists measure force? = the newton; Which vitamin does our skin make from
sunlight? / What vitamin do we get from the sun? = vitamin D; Which organs do we use to breathe? / What organs take
air into the body? = the lungs; What do we call animals that eat only plants? / What is a plant-eating animal called?
= herbivores; What do we call animals that eat only meat? / What is a meat-eating animal called? = carnivores; What do
we call animals that eat both plants and meat? / What is an animal that eats everything called? = omnivores; What
state of matter is steam? / Is steam a solid, a liquid or a gas? = a gas; At what temperature in Fahrenheit does water
freeze? / What is the freezing point of water in Fahrenheit? = 32 degrees; What is the pH of pure water? / Is pure
water acidic or neutral? = 7, which is neutral; What causes the tides in the ocean? / Why does the sea go in and out?
= the Moon's gravity; What is the longest bone in the human body? / Which bone is the biggest in our body? = the
femur; What is the smallest bone in the human body? / Which bone is the tiniest in our body? = the stapes in the ear;
Which organ controls the whole body? / What part of the body do we think with? = the brain; What do we call a
scientist who studies rocks? / What is a rock scientist called? = a geologist; What carries oxygen in our blood? /
Which blood cells carry oxygen? = red blood cells; What is the opposite of an acid? / What is a chemical that
neutralises an acid? = a base; How many colours are in a rainbow? / How many colours can you see in a rainbow? =
seven; What kind of energy does a moving object have? / What is the energy of motion called? = kinetic energy; What
tool makes small things look bigger? / What instrument do scientists use to see cells? = a microscope; What is the
main source of energy for life on Earth? / Where does most of Earth's energy come from? = the Sun; Does sound travel
faster in water or in air? / Is sound faster in air or in water? = in water
"""

PLANETS = ["Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"]
PLANET_KIND = ["a rocky planet"] * 4 + ["a gas giant"] * 2 + ["an ice giant"] * 2

SPACE_FACTS = """
Which planet is known as the Red Planet? / What planet is called the Red Planet? = Mars; What is the largest planet in
our solar system? / Which planet is the biggest? = Jupiter; What is the smallest planet in our solar system? / Which
planet is the smallest? = Mercury; Which planet is the hottest? / What is the hottest planet in the solar system? =
Venus; Which planet has the most famous rings? / What planet is known for its beautiful rings? = Saturn; What planet
do we live on? / What is the name of our planet? = Earth; What is the name of Earth's natural satellite? / What orbits
the Earth every month? = the Moon; How many planets are in our solar system? / How many planets orbit the Sun? =
eight; What kind of object is the Sun? / Is the Sun a planet or a star? = a star; Which dwarf planet used to be called
the ninth planet? / What was the ninth planet before it was reclassified? = Pluto; What galaxy do we live in? / What
is the name of our galaxy? = the Milky Way; Who was the first person to walk on the Moon? / Who first stepped onto the
Moon? = Neil Armstrong; How long does the Earth take to go around the Sun? / How long is one orbit of the Earth around
the Sun? = about 365 days; How long does the Earth take to spin once? / How long is one day on Earth? = about 24
hours; What is a shooting star? / What are shooting stars really? = a meteor burning up in the atmosphere; What was
the first artificial satellite? / What was the name of the first satellite in space? = Sputnik 1; Who was the first
person in space? / Which astronaut first went to space? = Yuri Gagarin; In what year did people first land on the
Moon? / When did the Apollo 11 astronauts land on the Moon? = 1969; What is the closest star to Earth? / Which star is
nearest to us? = the Sun; What is a light year? / What does a light year measure? = the distance light travels in a
year; What do we call a group of stars that forms a picture? / What is a constellation? = a constellation; What is the
Great Red Spot? / Which planet has the Great Red Spot? = a giant storm on Jupiter; Why does the Moon shine? / Where
does moonlight come from? = it reflects sunlight; What do astronauts wear in space? / What protects astronauts outside
their spacecraft? = a spacesuit; What is the name of the space station where astronauts live? / Where do astronauts
live while orbiting the Earth? = the International Space Station
"""

DISHES = """
sushi|Japan; pizza|Italy; tacos|Mexico; the croissant|France; paella|Spain; kimchi|Korea; pad thai|Thailand;
pho|Vietnam; goulash|Hungary; moussaka|Greece; dim sum|China; haggis|Scotland; borscht|Ukraine; bratwurst|Germany;
feijoada|Brazil; ceviche|Peru; poutine|Canada; fish and chips|England; pierogi|Poland; tiramisu|Italy; ramen|Japan;
churros|Spain; gelato|Italy; fondue|Switzerland; Belgian waffles|Belgium; Wiener schnitzel|Austria; tapas|Spain;
lasagna|Italy; crepes|France; bibimbap|Korea; biryani|India; Peking duck|China; tempura|Japan; risotto|Italy;
quiche|France; nachos|Mexico; guacamole|Mexico; butter chicken|India; tandoori chicken|India; baguette|France
"""

PRODUCE = """
an apple|a fruit; a pear|a fruit; a grape|a fruit; a mango|a fruit; a pineapple|a fruit; a cherry|a fruit; a peach|a
fruit; a plum|a fruit; a strawberry|a fruit; a watermelon|a fruit; a kiwi|a fruit; an orange|a fruit; a lemon|a fruit;
a fig|a fruit; an apricot|a fruit; a papaya|a fruit; a carrot|a vegetable; a potato|a vegetable; an onion|a vegetable;
spinach|a vegetable; lettuce|a vegetable; cabbage|a vegetable; broccoli|a vegetable; cauliflower|a vegetable; celery|a
vegetable; garlic|a vegetable; a beetroot|a vegetable; a radish|a vegetable; a turnip|a vegetable; kale|a vegetable; a
leek|a vegetable; asparagus|a vegetable; a banana|a fruit; a blueberry|a fruit; a coconut|a fruit; a sweet potato|a
vegetable
"""

INGREDIENTS = """
guacamole|avocado; hummus|chickpeas; bread|flour; an omelette|eggs; french fries|potatoes; popcorn|corn; cheese|milk;
chocolate|cocoa beans; tofu|soybeans; pickles|cucumbers; raisins|grapes; wine|grapes; butter|cream; yogurt|milk; corn
tortillas|corn; pasta|wheat flour; ketchup|tomatoes; peanut butter|peanuts; mayonnaise|eggs and oil; risotto|rice;
falafel|chickpeas; coffee|coffee beans; maple syrup|maple tree sap; lemonade|lemons; applesauce|apples; cider|apples;
sauerkraut|cabbage; marmalade|oranges; tea|tea leaves
"""

FOOD_FACTS = """
Which fruit keeps the doctor away, according to the saying? / What fruit a day keeps the doctor away? = an apple;
Which vitamin are oranges famous for? / What vitamin do oranges have a lot of? = vitamin C; What is the main
ingredient of a salad? / What vegetables usually go into a green salad? = lettuce; What do you call a meal eaten in
the morning? / What is the first meal of the day? = breakfast; What nut is used to make marzipan? / Marzipan is made
from which nut? = almonds; Which spice is the most expensive in the world? / What is the priciest spice? = saffron;
What is sushi usually wrapped in? / What seaweed is used for sushi rolls? = nori seaweed; What grain is used to make
popcorn? / What kind of corn pops into popcorn? = corn; What is a baby cow's meat called? / What do you call meat from
a calf? = veal; What drink is made from fermented grapes? / What is made from grapes in a winery? = wine; What is the
main ingredient in a traditional pesto? / What herb is used for pesto? = basil; Which country produces the most
coffee? / Where does most of the world's coffee come from? = Brazil; What is tofu made from? / Which bean is used to
make tofu? = soybeans; What kind of food is cheddar? / Is cheddar a cheese or a bread? = a cheese
"""

TEAM_SIZES = """
soccer|eleven; basketball|five; volleyball|six; baseball|nine; ice hockey|six; rugby union|fifteen; American
football|eleven; cricket|eleven; water polo|seven; netball|seven; handball|seven; field hockey|eleven; rugby
league|thirteen; beach volleyball|two; polo|four
"""

SPORT_GEAR = """
a shuttlecock|badminton; a puck|ice hockey; a golf club|golf; a surfboard|surfing; a foil|fencing; a baton|relay
racing; skis|skiing; an oar|rowing; a javelin|athletics; a hoop and an orange ball|basketball; a racket and a yellow
ball|tennis; a bat and wickets|cricket; a cue and coloured balls|snooker; a mitt and a bat|baseball; a helmet and an
oval ball|American football; a saddle|horse riding; a bow and arrows|archery; boxing gloves|boxing; a
skateboard|skateboarding; a paddle and a small ball|table tennis; a net and a ball you spike|volleyball; ice skates
and a stick|ice hockey; a bowling ball and pins|bowling; a kayak|kayaking
"""

SPORT_FACTS = """
How long is a marathon? / What is the distance of a marathon? = about 42 kilometres; How often are the Summer Olympic
Games held? / How many years are there between Summer Olympics? = every four years; Where were the first modern
Olympic Games held? / In which city did the modern Olympics begin? = Athens; How many rings are on the Olympic flag? /
How many circles are in the Olympic symbol? = five; How many holes are on a standard golf course? / How many holes
does a full round of golf have? = eighteen; What is a score of zero called in tennis? / What word means zero in
tennis? = love; How many points is a touchdown worth? / How many points do you get for a touchdown? = six; How long is
a soccer match? / How many minutes does a football match last? = ninety minutes; How many periods are in an ice hockey
game? / How is an ice hockey game divided? = three periods; Which country won the first football World Cup? / Who won
the very first World Cup in 1930? = Uruguay; Which sport is Wimbledon famous for? / What sport is played at Wimbledon?
= tennis; What sport is the Tour de France? / What kind of race is the Tour de France? = cycling; In which sport can
you score a slam dunk? / What sport has slam dunks? = basketball; How many bases are there in baseball? / How many
bases does a baseball field have? = four; What is the national sport of Japan? / Which traditional sport is Japan
famous for? = sumo wrestling; How many players are on a tennis doubles team? / How many people play on each side in
doubles? = two; What colour is the middle of an archery target? / What is the centre of an archery target called? =
gold, the bullseye; How many points is a basket from far away worth in basketball? / How much is a three-pointer
worth? = three points; In which sport do players try to score a try? / What sport has tries and scrums? = rugby; What
is the maximum break in snooker? / What is the highest score in one snooker break? = 147; How high is a basketball
hoop? / What is the height of a basketball rim? = ten feet; What is the name of the trophy in American football's
final game? / What trophy does the Super Bowl winner get? = the Vince Lombardi Trophy
"""

INVENTIONS = """
telephone|Alexander Graham Bell; light bulb|Thomas Edison; printing press|Johannes Gutenberg; airplane|the Wright
brothers; World Wide Web|Tim Berners-Lee; radio|Guglielmo Marconi; dynamite|Alfred Nobel; television|John Logie Baird;
smallpox vaccine|Edward Jenner; periodic table|Dmitri Mendeleev; first practical car|Karl Benz; phonograph|Thomas
Edison; jet engine|Frank Whittle; polio vaccine|Jonas Salk; lightning rod|Benjamin Franklin; telegraph|Samuel Morse;
Morse code|Samuel Morse; steam locomotive|George Stephenson; electric battery|Alessandro Volta; mobile phone|Martin
Cooper
"""

BOOKS = """
Romeo and Juliet|William Shakespeare; Hamlet|William Shakespeare; Macbeth|William Shakespeare; Pride and
Prejudice|Jane Austen; Nineteen Eighty-Four|George Orwell; Animal Farm|George Orwell; the Harry Potter books|J. K.
Rowling; The Odyssey|Homer; The Iliad|Homer; Don Quixote|Miguel de Cervantes; War and Peace|Leo Tolstoy; Moby
Dick|Herman Melville; The Hobbit|J. R. R. Tolkien; The Lord of the Rings|J. R. R. Tolkien; Oliver Twist|Charles
Dickens; A Christmas Carol|Charles Dickens; Great Expectations|Charles Dickens; Frankenstein|Mary Shelley;
Dracula|Bram Stoker; The Adventures of Tom Sawyer|Mark Twain; Alice's Adventures in Wonderland|Lewis Carroll; The
Little Prince|Antoine de Saint-Exupery; Charlotte's Web|E. B. White; Jane Eyre|Charlotte Bronte; Wuthering
Heights|Emily Bronte; The Great Gatsby|F. Scott Fitzgerald; To Kill a Mockingbird|Harper Lee; The Old Man and the
Sea|Ernest Hemingway; Les Miserables|Victor Hugo; Crime and Punishment|Fyodor Dostoevsky; the Sherlock Holmes
stories|Arthur Conan Doyle; The Jungle Book|Rudyard Kipling; Treasure Island|Robert Louis Stevenson; Peter Pan|J. M.
Barrie; Matilda|Roald Dahl; Charlie and the Chocolate Factory|Roald Dahl; The Cat in the Hat|Dr. Seuss; Little
Women|Louisa May Alcott; The Hunger Games|Suzanne Collins; Robinson Crusoe|Daniel Defoe
"""

PAINTINGS = """
the Mona Lisa|Leonardo da Vinci; The Starry Night|Vincent van Gogh; The Last Supper|Leonardo da Vinci;
Sunflowers|Vincent van Gogh; The Scream|Edvard Munch; Guernica|Pablo Picasso; The Persistence of Memory|Salvador Dali;
Girl with a Pearl Earring|Johannes Vermeer; The Birth of Venus|Sandro Botticelli; the ceiling of the Sistine
Chapel|Michelangelo; Water Lilies|Claude Monet; The Night Watch|Rembrandt; American Gothic|Grant Wood; The Kiss|Gustav
Klimt; The Creation of Adam|Michelangelo; The Great Wave off Kanagawa|Hokusai; Impression, Sunrise|Claude Monet; The
Garden of Earthly Delights|Hieronymus Bosch
"""

ART_FACTS = """
What are the three primary colours in painting? / Which colours are the primary colours? = red, yellow and blue; Which
museum in Paris holds the Mona Lisa? / Where can you see the Mona Lisa? = the Louvre; What is a painting of a person
called? / What do you call a picture of someone's face? = a portrait; What is a painting of fruit and objects on a
table called? / What is a still life? = a still life; What tool does a painter use to hold and mix paint? / What is a
painter's palette? = a palette; Which artist cut off part of his own ear? / What famous painter lost part of his ear?
= Vincent van Gogh; What material is a marble statue made of? / What stone did Michelangelo use for his David? =
marble; What is the art of beautiful handwriting called? / What is calligraphy? = calligraphy; Which art movement was
Picasso famous for? / What style of painting did Picasso help create? = cubism; What do you call a picture made of
small pieces of coloured glass or stone? / What is a mosaic? = a mosaic
"""

HISTORY_FACTS = """
Who was the first president of the United States? / Who was America's first president? = George Washington; In what
year did World War Two end? / When did the Second World War end? = 1945; In what year did World War One begin? / When
did the First World War start? = 1914; In what year did the Berlin Wall fall? / When was the Berlin Wall torn down? =
1989; In what year did the Titanic sink? / When did the Titanic go down? = 1912; In what year did Columbus first reach
the Americas? / When did Christopher Columbus sail to America? = 1492; Who built the great pyramids of Giza? / Which
people built the pyramids? = the ancient Egyptians; Who was the first woman to win a Nobel Prize? / Which woman first
won a Nobel Prize? = Marie Curie; In what year was the American Declaration of Independence signed? / When did the
United States declare independence? = 1776; Who was the first Black president of South Africa? / Who became South
Africa's president in 1994? = Nelson Mandela; Who gave the famous I Have a Dream speech? / Which civil rights leader
said I have a dream? = Martin Luther King Jr.; Who was the first emperor of Rome? / Which man became the first Roman
emperor? = Augustus; In what year did the Great Fire of London happen? / When did the Great Fire of London burn the
city? = 1666; In what year did the French Revolution begin? / When did the French Revolution start? = 1789; Who was
the first person to reach the South Pole? / Which explorer first reached the South Pole? = Roald Amundsen; Who first
climbed Mount Everest? / Which climbers first reached the top of Everest? = Edmund Hillary and Tenzing Norgay; Which
ship carried the Pilgrims to America in 1620? / What was the name of the Pilgrims' ship? = the Mayflower; In what year
did the Wright brothers make their first flight? / When did the first powered airplane fly? = 1903; Who led India's
non-violent struggle for independence? / Which leader is known as the father of India? = Mahatma Gandhi; Which people
built Machu Picchu? / Which empire built the city of Machu Picchu? = the Inca; Which civilisation built the Colosseum?
/ Who built the Colosseum in Rome? = the ancient Romans; Who was Cleopatra? / What was Cleopatra famous for? = the
last queen of ancient Egypt; Who was Napoleon Bonaparte? / What was Napoleon famous for? = a French emperor and
general; Who discovered penicillin? / Which scientist found the first antibiotic? = Alexander Fleming; Who developed
the theory of relativity? / Which scientist came up with relativity? = Albert Einstein; Who was the British prime
minister during most of World War Two? / Which leader led Britain in the Second World War? = Winston Churchill; Who
was the queen of the United Kingdom for seventy years? / Which British queen reigned the longest? = Queen Elizabeth
the Second; What was the name of the ship that Charles Darwin sailed on? / On which ship did Darwin travel? = the
Beagle; Who painted the ceiling of the Sistine Chapel? / Which artist decorated the Sistine Chapel ceiling? =
Michelangelo; Which wall was built to protect China from invaders? / What did China build to keep invaders out? = the
Great Wall; Who was Joan of Arc? / What is Joan of Arc remembered for? = a French heroine who led an army; Which
country gave the Statue of Liberty to the United States? / Where did the Statue of Liberty come from? = France; What
ancient city was buried by the eruption of Mount Vesuvius? / Which Roman town was destroyed by Vesuvius? = Pompeii;
Who wrote the theory of evolution by natural selection? / Which scientist is famous for evolution? = Charles Darwin;
Who was the first man to sail around the world? / Whose expedition first went all the way around the globe? =
Ferdinand Magellan's expedition
"""

INSTRUMENTS = """
violin|a string instrument; cello|a string instrument; guitar|a string instrument; harp|a string instrument; double
bass|a string instrument; banjo|a string instrument; ukulele|a string instrument; mandolin|a string instrument;
sitar|a string instrument; trumpet|a brass instrument; trombone|a brass instrument; tuba|a brass instrument; French
horn|a brass instrument; flute|a woodwind instrument; clarinet|a woodwind instrument; oboe|a woodwind instrument;
bassoon|a woodwind instrument; saxophone|a woodwind instrument; recorder|a woodwind instrument; piccolo|a woodwind
instrument; bagpipes|a woodwind instrument; piano|a keyboard instrument; organ|a keyboard instrument; harpsichord|a
keyboard instrument; drum|a percussion instrument; xylophone|a percussion instrument; tambourine|a percussion
instrument; cymbals|a percussion instrument; triangle|a percussion instrument; timpani|a percussion instrument;
marimba|a percussion instrument
"""

COMPOSITIONS = """
Fur Elise|Ludwig van Beethoven; The Magic Flute|Wolfgang Amadeus Mozart; The Four Seasons|Antonio Vivaldi; Swan
Lake|Pyotr Tchaikovsky; The Nutcracker|Pyotr Tchaikovsky; Clair de Lune|Claude Debussy; the Moonlight Sonata|Ludwig
van Beethoven; Bolero|Maurice Ravel; The Blue Danube|Johann Strauss the Second; Eine kleine Nachtmusik|Wolfgang
Amadeus Mozart; the Ode to Joy|Ludwig van Beethoven; Rhapsody in Blue|George Gershwin; The Planets|Gustav Holst; the
Messiah|George Frideric Handel; the Brandenburg Concertos|Johann Sebastian Bach; the opera Carmen|Georges Bizet; the
Canon in D|Johann Pachelbel; the William Tell Overture|Gioachino Rossini; Peter and the Wolf|Sergei Prokofiev; the
Hungarian Rhapsodies|Franz Liszt
"""

MUSIC_FACTS = """
How many keys does a standard piano have? / How many keys are on a piano? = 88; How many strings does a standard
guitar have? / How many strings are on a normal guitar? = six; How many strings does a violin have? / How many strings
are on a violin? = four; How many lines are in a musical staff? / How many lines does a music staff have? = five;
Which band sang Hey Jude? / Who recorded the song Hey Jude? = The Beatles; Who is known as the King of Pop? / Which
singer was called the King of Pop? = Michael Jackson; Who is known as the King of Rock and Roll? / Which singer was
called the King? = Elvis Presley; What does a conductor do in an orchestra? / What is the job of an orchestra
conductor? = leads the musicians; What is a group of four musicians called? / What do you call a band of four players?
= a quartet; What does tempo mean in music? / What is the tempo of a song? = the speed of the music; Which instrument
has black and white keys? / What instrument has eighty-eight black and white keys? = the piano; What is the highest
female singing voice? / Which voice type sings the highest notes? = soprano; What is the lowest male singing voice? /
Which male voice sings the lowest notes? = bass; What is a song for one singer in an opera called? / What is an aria?
= an aria; Which composer kept writing music after he became deaf? / What famous composer lost his hearing? = Ludwig
van Beethoven; How many beats does a whole note get in four four time? / How long is a whole note? = four beats; What
does forte mean in music? / If music says forte, how should you play? = loudly; What does piano mean as a musical
instruction? / If the music says piano, how should you play? = softly; What instrument did Louis Armstrong play? /
Which instrument made Louis Armstrong famous? = the trumpet; Which country does the flamenco guitar style come from? /
Where does flamenco music come from? = Spain
"""

SIZED_THINGS = """
an ant|0.005; a bee|0.015; a grape|0.02; a coin|0.02; a mouse|0.08; an apple|0.08; a pencil|0.18; a football|0.22; a
book|0.25; a cat|0.5; a watermelon|0.35; a dog|0.8; a bicycle|1.8; a person|1.7; a horse|2.4; a car|4.5; an
elephant|6; a bus|12; a tree|15; a house|10; a blue whale|25; a football pitch|100; a cruise ship|300; a
skyscraper|400; a mountain|4000; the Moon|3474000; the Earth|12742000; the Sun|1392000000; a grain of sand|0.0005; a
basketball court|28; an aeroplane|60; a giraffe|5; a rabbit|0.4; a strawberry|0.03; a pumpkin|0.4
"""

SPEEDS = """
a snail|0.01; a tortoise|0.3; a person walking|1.4; a bicycle|6; a horse|15; a car on the motorway|30; a cheetah|30; a
high-speed train|80; an aeroplane|250; a rocket|8000; a running person|5; a sloth|0.07; a racing car|90; a bumblebee|4
"""

WORDS = """
cat dog house apple banana school garden window elephant computer yellow mountain river kitchen table chair pencil
orange summer winter music doctor teacher bottle rabbit butterfly umbrella telephone chocolate birthday holiday friend
family picture rainbow castle dragon pizza island jungle monkey penguin rocket planet ocean basket sandwich
"""

PLURALS = """
mouse|mice; child|children; man|men; woman|women; tooth|teeth; foot|feet; goose|geese; person|people; ox|oxen;
cactus|cacti; sheep|sheep; fish|fish; leaf|leaves; knife|knives; wolf|wolves; box|boxes; baby|babies; city|cities;
potato|potatoes; deer|deer; half|halves; wife|wives; life|lives; hero|heroes; bus|buses; church|churches; loaf|loaves
"""

PAST_TENSES = """
go|went; eat|ate; run|ran; see|saw; take|took; write|wrote; sing|sang; swim|swam; buy|bought; think|thought;
bring|brought; catch|caught; teach|taught; fly|flew; drink|drank; drive|drove; speak|spoke; break|broke; choose|chose;
begin|began; forget|forgot; give|gave; know|knew; throw|threw; grow|grew; draw|drew; ride|rode; wake|woke;
sleep|slept; keep|kept; feel|felt; leave|left; meet|met; pay|paid; say|said; sell|sold; tell|told; find|found;
win|won; sit|sat; stand|stood; understand|understood; hold|held; build|built; send|sent; spend|spent; lose|lost;
make|made; have|had; do|did; fall|fell; hide|hid; bite|bit; shake|shook; steal|stole
"""

GOALS = """
sleep better; drink more water; reduce stress; stay focused while studying; save money on groceries; make new friends;
wake up earlier; keep my houseplants alive; stop procrastinating; be more productive at work; improve my posture;
remember names better; cook rice properly; keep my kitchen clean; stay warm in winter; keep cool in summer; learn a
new language; get more exercise; eat more vegetables; calm down before an exam; prepare for a job interview; be a
better listener; organise my wardrobe; start running; protect my skin from the sun; keep my teeth healthy; reduce my
screen time; read more books; improve my handwriting; become more patient; manage my time better; start a vegetable
garden; pack for a weekend trip; plan a birthday party; write a polite email; speak in public with confidence; make my
phone battery last longer; make better coffee at home; fall asleep faster; eat healthier snacks; build a new habit;
deal with jet lag; stay motivated; keep my dog happy; train my puppy; get a stain out of a shirt; keep bread fresh;
save energy at home; use less plastic; learn to play the guitar; take better photos with my phone; memorise a speech;
stay safe when cycling; keep my passwords safe; cheer up a friend; apologise to someone; say no politely; relax after
work; avoid back pain at my desk; drink less coffee; improve my memory; stay calm in traffic; make my bed every
morning; keep a journal; save for a holiday; learn to cook; make my room tidier; be on time; study for a maths test;
grow tomatoes on a balcony; clean my windows without streaks; choose a good watermelon; keep my shoes from smelling
"""

HEALTH_PROBLEMS = """
have a headache; can't fall asleep; feel stressed; burn my finger on the stove; get stung by a bee; have a sore
throat; feel tired all the time; have the hiccups; get a nosebleed; catch a cold; sprain my ankle; get sunburned; have
a stomach ache; feel dizzy; have a runny nose; cut my finger; get a blister on my foot; have a cough; feel anxious
before a test; have sore muscles after exercise; get a mosquito bite; feel dehydrated; have itchy eyes; have a
toothache; feel sleepy after lunch; have a stiff neck; get motion sickness in the car; have dry skin; hurt my back
lifting something; feel sad for no reason
"""

DEFINITION_WORDS = """
generous curious democracy gravity metaphor habitat nostalgia recipe volcano library calendar vaccine orbit budget
hobby algorithm galaxy ecosystem friendship courage empathy inflation patience evaporation fossil climate migration
photosynthesis biography dictionary pollution recycling electricity magnet friction oxygen nutrition allergy fever
infection antibiotic mammal reptile predator camouflage hibernation glacier earthquake tsunami hurricane drought
continent peninsula desert island harbour canal bridge architecture sculpture symphony melody rhythm harmony orchestra
poem novel fiction comedy tragedy myth legend fable proverb idiom synonym antonym adjective verb noun adverb pronoun
vowel consonant syllable alphabet translation currency salary loan interest tax investment profit customer invoice
contract negotiation deadline meeting schedule agenda password browser website software hardware internet email robot
satellite telescope microscope experiment hypothesis theory evidence atom molecule energy temperature humidity
forecast breeze thunder lightning sunrise horizon compass map latitude longitude tradition festival ceremony ritual
culture heritage museum monument statue castle kingdom emperor parliament election citizen law justice freedom
responsibility honesty kindness gratitude humility ambition optimism resilience wisdom
"""

EXPLANATIONS = """
Why is the sky blue? | why the sky is blue; Why do leaves change colour in autumn? | why leaves change colour in
autumn; Why do we dream? | why we dream; How do aeroplanes stay in the air? | how aeroplanes stay in the air; How does
a rainbow form? | how a rainbow forms; Why do we have seasons? | why we have seasons; Why is the sea salty? | why the
sea is salty; How do bees make honey? | how bees make honey; Why do cats purr? | why cats purr; Why do we need to
sleep? | why we need to sleep; How does a compass work? | how a compass works; Why do onions make us cry? | why onions
make us cry; How do fish breathe underwater? | how fish breathe underwater; Why does ice float on water? | why ice
floats on water; How does the heart pump blood? | how the heart pumps blood; Why do we yawn? | why we yawn; Why do
stars twinkle? | why stars twinkle; How do vaccines work? | how vaccines work; Why does the Moon change shape? | why
the Moon changes shape; How do plants grow from seeds? | how plants grow from seeds; Why do we get goosebumps? | why
we get goosebumps; How does a refrigerator keep food cold? | how a refrigerator keeps food cold; Why do birds fly
south for the winter? | why birds fly south for the winter; How does soap clean our hands? | how soap cleans our
hands; Why does bread go stale? | why bread goes stale; How do magnets work? | how magnets work; Why do we hiccup? |
why we hiccup; How does the internet work? | how the internet works; Why is exercise good for us? | why exercise is
good for us; How do volcanoes erupt? | how volcanoes erupt; Why do we have day and night? | why we have day and night;
How does a microwave oven heat food? | how a microwave oven heats food; Why do apples turn brown after cutting? | why
apples turn brown after cutting; How do earthquakes happen? | how earthquakes happen; Why do dogs wag their tails? |
why dogs wag their tails; How does recycling help the planet? | how recycling helps the planet; Why is it colder on
top of a mountain? | why it is colder on top of a mountain; How do birds know where to migrate? | how birds know where
to migrate; Why do we sweat? | why we sweat; How does a solar panel make electricity? | how a solar panel makes
electricity; Why do we see lightning before we hear thunder? | why we see lightning before we hear thunder; How do
clouds form? | how clouds form; Why does metal feel cold to the touch? | why metal feels cold to the touch; How do
chameleons change colour? | how chameleons change colour; Why is drinking water important? | why drinking water is
important; How does a bicycle stay upright? | how a bicycle stays upright; Why do our ears pop on a plane? | why our
ears pop on a plane; How do submarines dive and surface? | how submarines dive and surface; Why do zebras have
stripes? | why zebras have stripes; How does a thermometer work? | how a thermometer works; Why do we need vitamins? |
why we need vitamins; How is paper made? | how paper is made; Why does the wind blow? | why the wind blows; How do
bats fly in the dark? | how bats fly in the dark; Why do babies cry? | why babies cry; How does a battery store
energy? | how a battery stores energy; Why do we have fingerprints? | why we have fingerprints; How does rain form? |
how rain forms; Why do bubbles pop? | why bubbles pop; How do trees make oxygen? | how trees make oxygen
"""

SUGGESTION_SLOTS = {
    "pets": "puppy, kitten, goldfish, hamster, parrot, rabbit, tortoise, guinea pig",
    "people": "my mum, my dad, my grandmother, my grandfather, my best friend, my sister, my brother, a coworker, "
              "my teacher, a ten-year-old, a new neighbour, my boss",
    "meals": "breakfast, a quick lunch, dinner tonight, a picnic, a rainy evening, a summer barbecue, a party, "
             "a camping trip",
    "times": "a rainy Sunday, a sunny afternoon, a cold winter evening, a long train ride, a lazy Saturday, "
             "a day at the beach, a quiet night at home, a family weekend",
    "genres": "mystery, science fiction, fantasy, history, adventure, comedy, poetry, biography",
}
SUGGESTION_TEMPLATES = {
    "pets": ["Can you suggest a good name for my new {x}?", "What would be a cute name for a {x}?"],
    "people": ["What is a good birthday gift for {x}?", "Can you suggest a present for {x}?",
               "What hobby would you recommend for {x}?"],
    "meals": ["What should I cook for {x}?", "Can you suggest an easy idea for {x}?"],
    "times": ["What is a fun thing to do on {x}?", "What can I do on {x}?"],
    "genres": ["Can you recommend a good {x} book?", "Which {x} story would you suggest for a beginner?"],
}


HOWTO_TASKS = """
tie a tie; boil an egg; make pancakes; change a flat tyre on a bike; plant a tree; make a paper aeroplane; brew a cup
of tea; wash a wool jumper; iron a shirt; make a smoothie; fold a fitted sheet; sew on a button; make a cup of hot
chocolate; clean a frying pan; set up a tent; write a thank-you note; bake bread; make a budget; start a compost heap;
make a snowman; whistle with my fingers; skip stones on a lake; make lemonade; carve a pumpkin; learn to juggle; build
a bird feeder; make a grilled cheese sandwich; keep a conversation going; read a map; tie my shoelaces quickly; make
scrambled eggs; roast vegetables; cook pasta; make a simple salad dressing; hang a picture on the wall
"""

HEALTHY_HABITS = """
eat breakfast every day; drink coffee every morning; skip dinner; take a nap in the afternoon; eat chocolate; drink
eight glasses of water a day; walk ten thousand steps a day; stretch every morning; eat eggs every day; sleep with the
window open; go to bed late on weekends; eat fruit in the evening; exercise right after eating; drink cold water; sit
all day at a desk; take a cold shower; eat spicy food; chew gum; drink milk before bed; run every day; eat a lot of
salt; snack between meals; use my phone in bed; work out when I have a cold; fast for a day
"""

SPORTS = """
tennis; swimming; chess; running; basketball; soccer; cycling; golf; skiing; yoga; table tennis; climbing; volleyball;
badminton; skateboarding; boxing; surfing; dancing; archery; bowling
"""

JOBS = """
plumber; electrician; dentist; pharmacist; architect; librarian; chef; pilot; firefighter; nurse; farmer; journalist;
lawyer; judge; accountant; mechanic; carpenter; veterinarian; astronaut; scientist; photographer; translator; cashier;
waiter; police officer; engineer; programmer; gardener; baker; paramedic; zookeeper; lifeguard
"""

CHAT = """
Can you tell me a joke? / Do you know any good jokes?; How are you today? / How is your day going?; What can you help
me with? / What kinds of things can you do?; Tell me a fun fact. / Do you know an interesting fact?; What is a good
way to start the day? / How should I start my morning?; Can you say something nice to cheer me up? / I'm feeling down,
can you cheer me up?; What is your favourite colour? / Do you have a favourite colour?; What do you think about rainy
days? / Do you like rainy weather?; Can you give me a riddle? / Do you know a good riddle?; What should I name my new
bicycle? / Can you think of a funny name for my bike?; What is a good question to ask a new friend? / How can I start
a conversation with someone new?; Can you recommend a game to play with friends? / What is a fun game for a group of
friends?; What is a good tongue twister? / Can you tell me a tongue twister?; Can you tell me a short story? / Do you
know a very short story?; What should I do this weekend? / Any ideas for a fun weekend?; What is the best thing about
summer? / Why do people love summer?; What is a good way to say thank you? / How can I thank someone nicely?; Can you
help me pick a movie for tonight? / What kind of movie should I watch tonight?; What makes a good friend? / What
qualities does a good friend have?; What is something interesting about the ocean? / Tell me something cool about the
sea.; Can you give me a compliment? / Say something kind to me.; What is a nice way to celebrate a friend's success? /
How can I congratulate a friend?; What is a good morning routine? / How can I make my mornings better?; What is a
relaxing thing to do before bed? / How can I wind down in the evening?; What is a good way to spend a rainy afternoon?
/ What can I do when it rains all day?; Can you suggest a fun fact about animals? / Tell me something surprising about
animals.; What is a good snack for a movie night? / What should I eat while watching a film?; Why do people like music
so much? / What makes music enjoyable?; What is a good way to learn something new every day? / How can I keep
learning?; Can you motivate me to go for a walk? / Give me a reason to go outside today.
"""


# -------------------------------------------------------------------------------------------- builders

def _geography() -> list[Question]:
    continents = [({"x": c}, cont) for c, _, cont, _ in COUNTRIES]
    languages = [({"x": c}, lang) for c, _, _, lang in COUNTRIES]
    return (
        _family("geography", "continent", ["Which continent is {x} in?", "On which continent is {x}?",
                                           "What continent is {x} part of?"], continents)
        + _family("geography", "language", ["What language do people speak in {x}?",
                                            "What is the main language of {x}?", "Which language is spoken in {x}?"],
                  languages)
        + _simple("geography", "landmark", ["In which country is {x}?", "Where is {x}?", "Which country is {x} in?",
                                            "Can you tell me which country {x} is in?"], LANDMARKS)
        + _pairs("geography", GEOGRAPHY_FACTS)
    )


def _capitals() -> list[Question]:
    phrasings = ["What is the capital of {x}?", "What's the capital city of {x}?", "Which city is the capital of {x}?",
                 "Can you tell me the capital of {x}?", "Do you know what the capital of {x} is?",
                 "What city is the capital of {x}?"]
    return _family("capitals", "capital", phrasings, (({"x": c}, cap) for c, cap, _, _ in COUNTRIES))


def _animals() -> list[Question]:
    return (
        _simple("animals", "sound", ["What sound does a {x} make?", "What noise does a {x} make?",
                                     "How does a {x} sound?", "What does a {x} say?"], ANIMAL_SOUNDS)
        + _simple("animals", "baby", ["What is a baby {x} called?", "What do you call a baby {x}?",
                                      "What's the name for a young {x}?"], ANIMAL_BABIES)
        + _simple("animals", "class", ["What kind of animal is a {x}?", "What type of animal is a {x}?",
                                       "Which animal group does the {x} belong to?"], ANIMAL_CLASSES)
        + _simple("animals", "legs", ["How many legs does a {x} have?", "How many legs has a {x} got?",
                                      "Can you tell me how many legs a {x} has?"], ANIMAL_LEGS)
        + _pairs("animals", ANIMAL_FACTS)
    )


def _colours() -> list[Question]:
    mixes = [({"x": f"{x} and {y}", "k": f"{a}+{b}"}, result)
             for a, b, result in _rows(COLOUR_MIXES, 3) for x, y in ((a, b), (b, a))]
    return (
        _simple("colours", "thing", ["What colour is {x}?", "What color is {x}?", "Which colour is {x} usually?",
                                     "Tell me the colour of {x}."], COLOUR_THINGS)
        + _family("colours", "mix", ["What colour do you get when you mix {x}?", "What happens if you mix {x} paint?",
                                     "If I mix {x}, what colour will I get?"], mixes, group_key="k")
    )


def _opposites() -> list[Question]:
    rows = [({"x": x, "k": f"{a}+{b}"}, y) for a, b in _rows(OPPOSITES) for x, y in ((a, b), (b, a))]
    return _family("opposites", "pair", ["What is the opposite of {x}?", "What's the opposite of the word {x}?",
                                         "What word means the opposite of {x}?", "Can you give me the opposite of {x}?",
                                         "What is an antonym for {x}?"], rows, group_key="k")


def _arithmetic() -> list[Question]:
    ops = {
        "plus": (["What is {a} plus {b}?", "What's {a} plus {b}?", "How much is {a} plus {b}?",
                  "What do you get if you add {a} and {b}?", "Can you add {a} and {b} for me?"], lambda a, b: a + b),
        "minus": (["What is {a} minus {b}?", "What's {a} take away {b}?", "How much is {a} minus {b}?",
                   "What do you get if you subtract {b} from {a}?"], lambda a, b: a - b),
        "times": (["What is {a} times {b}?", "What's {a} multiplied by {b}?", "How much is {a} times {b}?",
                   "What do you get if you multiply {a} by {b}?"], lambda a, b: a * b),
        "divided": (["What is {a} divided by {b}?", "What's {a} divided by {b}?", "How much is {a} divided by {b}?",
                     "If you split {a} into {b} equal parts, how big is each part?"], lambda a, b: a // b),
    }
    operands = {
        "plus": [(a, b) for a in range(1, 31) for b in range(1, 31)],
        "minus": [(a, b) for a in range(3, 41) for b in range(1, a)],
        "times": [(a, b) for a in range(2, 13) for b in range(2, 13)],
        "divided": [(a * b, b) for a in range(2, 13) for b in range(2, 11)],
    }
    out = []
    for op, (phrasings, fn) in ops.items():
        for a, b in operands[op]:
            key = f"{min(a, b)},{max(a, b)}" if op in ("plus", "times") else f"{a},{b}"
            out += [Question(p.format(a=a, b=b), "arithmetic", str(fn(a, b)), f"arithmetic/{op}/{key}")
                    for p in phrasings]
    return out


def _calendar() -> list[Question]:
    def cyclic(names: list[str], step: int) -> list[tuple[dict[str, str], str]]:
        return [({"x": n}, names[(i + step) % len(names)]) for i, n in enumerate(names)]

    return (
        _family("calendar", "day-after", ["What day comes after {x}?", "If today is {x}, what day is tomorrow?",
                                          "Which day follows {x}?"], cyclic(DAYS, 1))
        + _family("calendar", "day-before", ["What day comes before {x}?", "If today is {x}, what day was yesterday?",
                                             "Which day is just before {x}?"], cyclic(DAYS, -1))
        + _family("calendar", "day-2after", ["If today is {x}, what day is the day after tomorrow?",
                                             "What day is two days after {x}?"], cyclic(DAYS, 2))
        + _family("calendar", "month-after", ["What month comes after {x}?", "Which month follows {x}?",
                                              "What is the month after {x}?"], cyclic(MONTHS, 1))
        + _family("calendar", "month-before", ["What month comes before {x}?", "Which month is just before {x}?"],
                  cyclic(MONTHS, -1))
        + _family("calendar", "month-days", ["How many days are in {x}?", "How many days does {x} have?",
                                             "How long is the month of {x} in days?"],
                  [({"x": m}, str(d)) for m, d in zip(MONTHS, MONTH_DAYS)])
        + _family("calendar", "season", ["In the northern hemisphere, which season is {x} in?",
                                         "What season is it in {x} in Europe?"],
                  [({"x": m}, s) for m, s in zip(MONTHS, SEASONS)])
        + _family("calendar", "month-number", ["What is the {x} month of the year?",
                                               "Which month is the {x} month of the year?"],
                  [({"x": o}, m) for o, m in zip(ORDINALS, MONTHS)])
        + _pairs("calendar", CALENDAR_FACTS)
    )


def _units() -> list[Question]:
    basic = [({"x": small, "y": big}, n) for small, big, n in _rows(UNIT_FACTS, 3)]
    out = _family("units", "basic", ["How many {x} are in {y}?", "How many {x} are there in {y}?",
                                     "Can you tell me how many {x} make {y}?"],
                  basic, group_key="y")
    phrasings = ["How many {small} are in {n} {big}?", "How many {small} are there in {n} {big}?",
                 "{n} {big} is how many {small}?"]
    for small, big, factor in UNIT_CONVERSIONS:
        for n in range(2, 13):
            out += [Question(_cap(p.format(small=small, big=big, n=n)), "units", f"{n * factor:,}",
                             f"units/convert/{small}-{big}-{n}") for p in phrasings]
    return out


def _science() -> list[Question]:
    return _simple("science", "element", ["What is the chemical symbol for {x}?", "Which symbol stands for {x}?",
                                          "What's the symbol of {x} on the periodic table?"], ELEMENTS) + _pairs(
        "science", SCIENCE_FACTS)


def _space() -> list[Question]:
    order = [({"x": o}, p) for o, p in zip(ORDINALS, PLANETS)]
    position = [({"x": p}, f"the {o}") for o, p in zip(ORDINALS, PLANETS)]
    kinds = [({"x": p}, k) for p, k in zip(PLANETS, PLANET_KIND)]
    return (
        _family("space", "order", ["What is the {x} planet from the Sun?", "Which planet is {x} from the Sun?"], order)
        + _family("space", "position", ["What position is {x} from the Sun?",
                                        "Counting from the Sun, where is {x} in the solar system?"], position)
        + _family("space", "kind", ["Is {x} a rocky planet or a gas giant?", "What kind of planet is {x}?"], kinds)
        + _pairs("space", SPACE_FACTS)
    )


def _food() -> list[Question]:
    return (
        _simple("food", "origin", ["Which country does {x} come from?", "Where does {x} originally come from?",
                                   "What country is {x} from?"], DISHES)
        + _simple("food", "produce", ["Is {x} a fruit or a vegetable?", "Would you call {x} a fruit or a vegetable?"],
                  PRODUCE)
        + _simple("food", "ingredient", ["What is {x} made from?", "What is the main ingredient in {x}?",
                                         "What do you make {x} with?"], INGREDIENTS)
        + _pairs("food", FOOD_FACTS)
    )


def _sports() -> list[Question]:
    return (
        _simple("sports", "team", ["How many players are on a {x} team?", "How many players does a {x} team have?",
                                   "In {x}, how many players are on each side?"], TEAM_SIZES)
        + _simple("sports", "gear", ["Which sport uses {x}?", "In which sport do you use {x}?",
                                     "What sport is played with {x}?"], SPORT_GEAR)
        + _pairs("sports", SPORT_FACTS)
    )


def _history() -> list[Question]:
    return _simple("history", "invention", ["Who invented the {x}?", "Who is credited with inventing the {x}?",
                                            "Who came up with the {x}?"], INVENTIONS) + _pairs("history", HISTORY_FACTS)


def _music() -> list[Question]:
    return (
        _simple("music", "family", ["What kind of instrument is the {x}?",
                                    "Which instrument family does the {x} belong to?",
                                    "What type of musical instrument is a {x}?"], INSTRUMENTS)
        + _simple("music", "composer", ["Who composed {x}?", "Who wrote the music for {x}?",
                                        "Which composer wrote {x}?"], COMPOSITIONS)
        + _pairs("music", MUSIC_FACTS)
    )


def _comparisons() -> list[Question]:
    def pairs(table: str, adjectives: tuple[str, str], ratio: float) -> list[Question]:
        big, small = adjectives
        out = []
        for (a, va), (b, vb) in combinations(_rows(table), 2):
            va, vb = float(va), float(vb)
            if max(va, vb) < ratio * min(va, vb):
                continue  # too close to call
            larger, smaller = (a, b) if va > vb else (b, a)
            group = f"comparisons/{big}/{'+'.join(sorted((a, b)))}"
            for x, y in ((a, b), (b, a)):
                out += [Question(f"Which is {big}, {x} or {y}?", "comparisons", larger, group),
                        Question(f"Which is {small}, {x} or {y}?", "comparisons", smaller, group),
                        Question(f"Is {x} {big} than {y}?", "comparisons", "yes" if x == larger else "no", group)]
        return out

    return pairs(SIZED_THINGS, ("bigger", "smaller"), 3.0) + pairs(SPEEDS, ("faster", "slower"), 2.0)


def _words() -> list[Question]:
    letters = [({"x": w}, str(len(w))) for w in WORDS.split()]
    first = [({"x": w}, w[0].upper()) for w in WORDS.split()]
    last = [({"x": w}, w[-1].upper()) for w in WORDS.split()]
    return (
        _family("words", "length", ["How many letters are in the word {x}?", "How many letters does {x} have?"],
                letters)
        + _family("words", "first", ["What is the first letter of the word {x}?", "What letter does {x} start with?"],
                  first)
        + _family("words", "last", ["What is the last letter of the word {x}?", "What letter does {x} end with?"],
                  last)
        + _simple("words", "plural", ["What is the plural of {x}?", "What do you call more than one {x}?",
                                      "How do you say {x} in the plural?"], PLURALS)
        + _simple("words", "past", ["What is the past tense of {x}?", "What's the past tense of the verb {x}?",
                                    "How do you say {x} in the past tense?"], PAST_TENSES)
    )


def _open(category: str, family: str, phrasings: Sequence[str], fillers: Iterable[str]) -> list[Question]:
    return _family(category, family, phrasings, (({"x": f}, None) for f in fillers))


def _items(table: str) -> list[str]:
    return [" ".join(x.split()) for x in table.split(";") if x.strip()]


def _advice() -> list[Question]:
    return (
        _open("advice", "goal", ["How can I {x}?", "What is a good way to {x}?", "Do you have any tips to {x}?",
                                 "What should I do to {x}?", "How do I {x}?", "Any advice on how to {x}?"],
              _items(GOALS))
        + _open("advice", "howto", ["How do you {x}?", "What are the steps to {x}?", "Can you explain how to {x}?"],
                _items(HOWTO_TASKS))
        + _open("advice", "sport", ["How can I get better at {x}?", "What is the best way to learn {x}?"],
                _items(SPORTS))
    )


def _health() -> list[Question]:
    return (
        _open("health", "problem", ["What should I do if I {x}?", "I {x}. What should I do?",
                                    "What can I do when I {x}?"], _items(HEALTH_PROBLEMS))
        + _open("health", "habit", ["Is it healthy to {x}?", "Is it good for you to {x}?", "Should I {x}?"],
                _items(HEALTHY_HABITS))
    )
def _definitions() -> list[Question]:
    return (
        _open("definitions", "word", ["What does the word {x} mean?", "What is the meaning of {x}?",
                                      "Can you define {x}?", "What does {x} mean?", "Explain the word {x}."],
              DEFINITION_WORDS.split())
        + _open("definitions", "job", ["What does a {x} do?", "What is the job of a {x}?",
                                       "What kind of work does a {x} do?"], _items(JOBS))
    )


def _explanations() -> list[Question]:
    out = []
    for i, (direct, clause) in enumerate(_rows(EXPLANATIONS)):
        texts = [direct, f"Can you explain {clause}?", f"Do you know {clause}?", f"Tell me {clause}."]
        out += [Question(t, "explanations", None, f"explanations/{i}") for t in texts]
    return out


def _suggestions() -> list[Question]:
    out = []
    for slot, fillers in SUGGESTION_SLOTS.items():
        out += _open("suggestions", slot, SUGGESTION_TEMPLATES[slot], (f.strip() for f in fillers.split(",")))
    return out


def _chat() -> list[Question]:
    return _pairs("chat", CHAT)


def _literature_and_art() -> list[Question]:
    return (
        _simple("literature", "author", ["Who wrote {x}?", "Who is the author of {x}?", "Which writer wrote {x}?"],
                BOOKS)
        + _simple("art", "painter", ["Who painted {x}?", "Which artist painted {x}?", "Who is the painter of {x}?"],
                  PAINTINGS)
        + _pairs("art", ART_FACTS)
    )


BUILDERS = (_capitals, _geography, _animals, _colours, _opposites, _arithmetic, _calendar, _units, _science, _space,
            _food, _sports, _history, _literature_and_art, _music, _comparisons, _words, _advice, _health,
            _definitions, _explanations, _suggestions, _chat)


def dedupe(questions: Iterable[Question]) -> list[Question]:
    """Keep the first question of each normalised text."""
    seen: set[str] = set()
    out = []
    for q in questions:
        key = normalize(q.text)
        if key and key not in seen:
            seen.add(key)
            out.append(q)
    return out


def template_questions() -> list[Question]:
    """All template questions, de-duplicated, in a fixed order."""
    return dedupe(q for build in BUILDERS for q in build())


LLM_TOPICS = """
volcanoes; the ocean; friendship; trains; the Moon; saving money; dogs; cats; rain; snow; the desert; forests; birds;
bread; coffee; tea; chocolate; pizza; vegetables; fruit; breakfast; sleep; dreams; exercise; running; swimming;
football; music; the piano; painting; photography; books; libraries; schools; homework; maths; history; dinosaurs; the
Romans; castles; pirates; robots; computers; the internet; mobile phones; video games; electricity; magnets; the
weather; thunderstorms; rainbows; the seasons; autumn leaves; gardening; flowers; trees; bees; butterflies; ants;
spiders; whales; sharks; penguins; elephants; horses; farms; cows; cooking; baking cakes; kitchens; cleaning;
recycling; plastic; the environment; climate; mountains; rivers; islands; maps; travelling; aeroplanes; cars;
bicycles; boats; space travel; stars; planets; the Sun; astronauts; telescopes; the human body; teeth; bones; the
heart; the brain; vitamins; medicine; doctors; hospitals; birthdays; holidays; families; babies; grandparents; jobs;
money; shopping; markets; cities; villages; bridges; houses; furniture; clocks; time; calendars; languages; words;
letters; writing; poems; jokes; games; chess; puzzles; toys; kites; camping; picnics; beaches; sand; shells; fish;
fishing; ice cream; cheese; honey; milk; eggs; rice; pasta; soup; salt; sugar; water; fire; light; colours; sound;
echoes; mirrors; glass; paper; pencils; scissors; umbrellas; shoes; clothes; hats; wool; cotton; festivals
"""
LLM_STARTERS = ("Why", "How", "What", "Where", "When", "Can", "Is", "Do")


def llm_question_prompts(count: int, seed: int) -> list[tuple[str, str]]:
    """`count` (topic, starter) prompts for the LLM question writer, a seeded sample of all pairs."""
    import numpy as np

    pairs = [(t, s) for t in _items(LLM_TOPICS) for s in LLM_STARTERS]
    order = np.random.default_rng([seed, 1]).permutation(len(pairs))
    return [pairs[i] for i in order[:count]]


def interleave(questions: Sequence[Question], seed: int) -> list[Question]:
    """Round-robin over categories (each shuffled with the seed), so any prefix is category-balanced."""
    import numpy as np

    rng = np.random.default_rng([seed, 2])
    by_category: dict[str, list[Question]] = {}
    for q in questions:
        by_category.setdefault(q.category, []).append(q)
    queues = [[qs[i] for i in rng.permutation(len(qs))] for _, qs in sorted(by_category.items())]
    out = []
    for rank in range(max(map(len, queues), default=0)):
        out += [queue[rank] for queue in queues if rank < len(queue)]
    return out


def assign_splits(questions: Sequence[Question], targets: dict[str, int], seed: int) -> dict[str, list[Question]]:
    """Candidate questions per split: whole groups are dealt to splits in proportion to `targets`
    within each category, then each split takes a category-balanced prefix of its share.

    No text or group is shared between splits; every split gets a similar category mix.
    """
    import numpy as np

    rng = np.random.default_rng([seed, 3])
    total = sum(targets.values())
    groups: dict[str, dict[str, list[Question]]] = {}
    for q in questions:
        groups.setdefault(q.category, {}).setdefault(q.group, []).append(q)
    pools: dict[str, list[Question]] = {split: [] for split in targets}
    for _, by_group in sorted(groups.items()):
        dealt = dict.fromkeys(targets, 0)
        for i in rng.permutation(len(by_group)):
            members = list(by_group.values())[i]
            after = sum(dealt.values()) + len(members)
            split = max(targets, key=lambda s: targets[s] / total * after - dealt[s])
            pools[split] += members
            dealt[split] += len(members)
    return {split: interleave(pool, seed)[:targets[split]] for split, pool in pools.items()}
