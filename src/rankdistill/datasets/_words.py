"""Word lists for the synthetic collection: English synonym groups (the vocabulary mismatch that
BM25 cannot bridge but a pretrained encoder can), function words and general filler words."""

# One concept per line; its surface forms (real English words, roughly interchangeable in context).
SYNONYM_GROUPS = """
car automobile vehicle
house home dwelling
price cost expense
doctor physician clinician
illness disease sickness
medicine drug medication
child kid youngster
buy purchase acquire
big large huge
small tiny little
begin start commence
end finish conclude
fast quick rapid
job occupation employment
salary wage pay
city town municipality
river stream creek
mountain peak summit
forest woods woodland
ocean sea marine
boat ship vessel
road street highway
lawyer attorney counsel
law statute legislation
rule regulation guideline
error mistake fault
answer reply response
question query inquiry
help assist aid
repair fix mend
build construct erect
destroy demolish wreck
danger hazard risk
safe secure protected
rich wealthy affluent
poor impoverished needy
food meal nourishment
drink beverage refreshment
sleep slumber rest
tired exhausted weary
happy cheerful joyful
sad unhappy sorrowful
angry furious irate
fear dread terror
smart intelligent clever
stupid foolish dumb
old elderly aged
young youthful juvenile
teacher instructor educator
student pupil learner
school academy college
book volume tome
story tale narrative
picture image photograph
film movie cinema
music melody tune
song ballad anthem
war conflict combat
soldier trooper infantryman
weapon armament arms
king monarch sovereign
country nation state
government administration regime
leader chief head
company firm corporation
shop store boutique
market bazaar marketplace
money cash currency
loan credit mortgage
tax levy duty
profit gain earnings
loss deficit shortfall
worker employee laborer
boss manager supervisor
meeting conference assembly
plan scheme strategy
goal aim objective
idea notion concept
method technique approach
tool instrument implement
machine device apparatus
engine motor turbine
fuel petrol gasoline
electricity power current
light illumination radiance
heat warmth temperature
cold chilly frigid
rain precipitation drizzle
storm tempest gale
wind breeze gust
snow sleet frost
sun daylight sunshine
moon lunar satellite
star constellation galaxy
planet world orb
earth soil ground
rock stone boulder
sand gravel grit
water liquid fluid
fire flame blaze
smoke fumes exhaust
air atmosphere sky
animal creature beast
dog hound canine
cat feline kitten
horse stallion mare
bird fowl avian
fish trout salmon
insect bug beetle
tree oak timber
flower blossom bloom
grass lawn turf
fruit berry produce
vegetable greens legume
bread loaf baguette
meat beef pork
cheese dairy curd
sugar sweetener glucose
salt sodium brine
oil grease lubricant
heart cardiac coronary
blood plasma hemoglobin
bone skeleton marrow
skin epidermis dermis
brain cerebral neural
eye vision sight
ear hearing auditory
tooth teeth dental
hand palm fist
foot feet toe
pain ache soreness
injury wound trauma
surgery operation procedure
hospital clinic infirmary
nurse caregiver attendant
patient sufferer invalid
cure remedy treatment
vaccine immunization inoculation
virus pathogen germ
cancer tumor malignancy
diet nutrition eating
exercise workout training
weight mass heaviness
height stature tallness
speed velocity pace
distance length span
time duration period
year annual yearly
month monthly calendar
day date daily
history past heritage
future tomorrow forthcoming
change alteration modification
increase rise growth
decrease decline reduction
problem issue difficulty
solution resolution fix-up
result outcome consequence
cause reason origin
effect impact influence
threat menace peril
benefit advantage merit
cheap inexpensive affordable
expensive costly pricey
quality standard grade
size dimension magnitude
shape form outline
color colour hue
red crimson scarlet
blue azure navy
green emerald olive
white ivory snowy
black ebony dark
word phrase expression
language tongue dialect
letter correspondence mail
message memo notice
phone telephone mobile
computer laptop pc
software program application
internet web online
network grid mesh
data information records
file document dossier
report account summary
study research investigation
scientist researcher scholar
experiment trial test
theory hypothesis conjecture
proof evidence confirmation
law-court court tribunal
judge magistrate justice
crime offense felony
thief robber burglar
police constable cop
prison jail penitentiary
church chapel cathedral
god deity divinity
religion faith belief
party celebration festivity
gift present donation
friend companion pal
family household kin
mother mom mum
father dad papa
wife spouse partner
baby infant newborn
wedding marriage matrimony
death demise passing
funeral burial interment
travel journey trip
tourist traveler visitor
hotel inn lodge
airport airfield aerodrome
plane aircraft airplane
train railway locomotive
bus coach shuttle
bridge viaduct overpass
tunnel underpass passage
farm ranch homestead
farmer grower cultivator
crop harvest yield
garden yard allotment
kitchen galley cookhouse
cook chef cuisine
recipe formula directions
clothes clothing garments
shoe boot sneaker
hat cap helmet
""".strip()

FUNCTION_WORDS = (
    "the of and to in is that for it as with was on be by this are from at or an have not which "
    "but they their has been more can also its one other these were some would there may such into "
    "most than many only used well between over both after where much through each very often when "
    "how what why who while under about against during before without within along among"
).split()

VERBS = (
    "affects shows describes involves requires supports changes explains includes reduces improves "
    "follows reflects creates shapes limits drives defines connects influences determines"
).split()

FILLER = (
    "part example case kind level area point group number system way side use fact view place "
    "order matter source record range term type note practice region model figure factor feature "
    "element aspect detail context sense role share basis amount series element rate unit stage "
    "pattern process condition situation property function structure measure degree value"
).split()

ONSETS = "b br c ch cl d dr f fl g gr h j k l m n p pl pr r s sh sl st t th tr v w z".split()
VOWELS = "a e i o u ai ea oo ou ie".split()
CODAS = ["", "n", "r", "s", "l", "m", "nd", "st", "rk", "th", "x"]
