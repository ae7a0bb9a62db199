"""Word banks for the synthetic LaMP generator (`tasks/synthetic.py`).

Plain data, no logic. Two rules keep the planted signals recoverable from text alone:

- the sentiment lexicons (`SENTIMENT`) are disjoint from each other and from every other review word;
- every cue string (`MOVIE_CUES`, `NEWS_CUES`) occurs verbatim in the text it is put in and in no other
  label's list, so the labels a text hints at can be read back by substring search.

Changing anything here changes the generated files: bump `SYNTHETIC_VERSION` in `tasks/synthetic.py`.
"""

from __future__ import annotations

# ---- lamp3

#: Sentiment level (1..5) -> adjectives that carry it. Disjoint sets; no other review word may appear here.
SENTIMENT: dict[int, tuple[str, ...]] = {
    1: ("terrible", "awful", "useless", "horrible", "dreadful", "worthless", "defective", "atrocious",
        "pathetic"),
    2: ("disappointing", "flimsy", "underwhelming", "clunky", "overpriced", "unreliable", "subpar",
        "lackluster", "frustrating"),
    3: ("okay", "average", "mediocre", "acceptable", "ordinary", "passable", "middling", "unremarkable",
        "adequate"),
    4: ("good", "solid", "nice", "reliable", "pleasant", "sturdy", "handy", "dependable", "likeable"),
    5: ("fantastic", "superb", "flawless", "outstanding", "wonderful", "brilliant", "excellent", "perfect",
        "amazing"),
}  # fmt: skip

#: Closing remarks that agree with a sentiment level without using lexicon words.
SENTIMENT_CLOSINGS: dict[int, tuple[str, ...]] = {
    1: ("I want a refund.", "Returned it after two days.", "Save your money.", "Never again."),
    2: ("Probably will not buy again.", "Expected more for the price.", "I am a bit let down.",
        "Not worth it in my opinion."),
    3: ("It does the job, nothing more.", "Neither great nor bad.", "Fine for occasional use.",
        "You get what you pay for."),
    4: ("I would recommend it.", "Happy with the purchase overall.", "Does what it promises.",
        "Glad I picked this one."),
    5: ("Would buy again in a heartbeat.", "Could not be happier.", "Best purchase this year.",
        "Everyone should own one."),
}  # fmt: skip

#: Product family -> (products, aspects a reviewer comments on).
PRODUCTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "electronics": (("pair of headphones", "bluetooth speaker", "phone charger", "e-reader", "webcam",
                     "smartwatch"),
                    ("sound", "battery", "buttons", "setup", "cable", "display")),
    "kitchen": (("blender", "coffee grinder", "frying pan", "kettle", "knife set", "toaster"),
                ("handle", "lid", "motor", "finish", "cleanup", "heat control")),
    "outdoor": (("tent", "backpack", "water bottle", "pair of hiking boots", "camping chair", "headlamp"),
                ("zipper", "straps", "fabric", "weight", "seams", "grip")),
    "books": (("novel", "cookbook", "travel guide", "biography", "puzzle book", "graphic novel"),
              ("writing", "pacing", "ending", "layout", "binding", "illustrations")),
    "home": (("desk lamp", "office chair", "shower curtain", "vacuum cleaner", "alarm clock", "rug"),
             ("switch", "wheels", "material", "suction", "brightness", "color")),
}  # fmt: skip

#: Neutral sentences (no sentiment words) that make reviews longer and less alike.
REVIEW_CONTEXTS = (
    "for my sister", "as a birthday gift", "after reading a lot of reviews", "to replace an older one",
    "on a whim", "for our new apartment", "during a holiday sale", "for a weekend trip",
)  # fmt: skip
REVIEW_DETAILS = (
    "It arrived in {n} days.", "I have used it for {n} weeks now.", "The box came with a short manual.",
    "I use it almost every day.", "My partner tried it too.", "It replaced one I had for {n} years.",
    "The color matches the photos.", "Delivery was on time.",
)  # fmt: skip

# ---- lamp2

#: Movie tag -> cue strings. A lowercase cue is a verb phrase said of the protagonist ("The pilot <cue>.");
#: a capitalized cue is a whole sentence.
MOVIE_CUES: dict[str, tuple[str, ...]] = {
    "sci-fi": ("intercepts a radio signal from a distant galaxy", "wakes up aboard a drifting starship",
               "builds a time machine in a garage", "makes first contact with an alien species"),
    "based on a book": ("Adapted from the bestselling novel of the same name.",
                        "The screenplay follows the beloved book chapter by chapter.",
                        "Fans of the original novel will recognize every character.",
                        "The film brings a celebrated literary saga to the screen."),
    "comedy": ("stumbles through a series of hilarious mishaps",
               "Slapstick gags and witty banter fill every scene.",
               "accidentally becomes the star of a goofy talent show", "The jokes land one after another."),
    "action": ("escapes a high-speed car chase through the city", "battles a squad of armed mercenaries",
               "Explosions and shootouts drive the plot forward.",
               "leads a daring rescue mission behind enemy lines"),
    "twist ending": ("Nothing is what it seems until the final scene.",
                     "A shocking reveal in the last minutes changes everything.",
                     "uncovers a secret that turns the whole story upside down",
                     "The final reveal forces viewers to rethink every clue."),
    "dystopia": ("lives under a totalitarian regime that controls every thought",
                 "The society is ruled by constant surveillance.",
                 "survives in a ruined city after the collapse of civilization",
                 "rebels against a government that bans free speech"),
    "dark comedy": ("Morbid humor runs through a botched funeral.",
                    "tries to hide a body with darkly comic results",
                    "The laughs come from grim and twisted situations.",
                    "plots a clumsy murder that keeps going wrong"),
    "classic": ("A timeless black-and-white masterpiece from the golden age of Hollywood.",
                "Critics have celebrated this film for decades.",
                "The legendary performances still hold up today.",
                "A landmark of early cinema that shaped the genre."),
    "psychology": ("slowly loses grip on reality", "confides in a psychiatrist about recurring nightmares",
                   "The story explores trauma, memory and identity.",
                   "struggles with an obsession that takes over the mind"),
    "fantasy": ("discovers a hidden kingdom of wizards and dragons",
                "must recover a magic sword from an enchanted forest",
                "A prophecy binds elves, dwarves and sorcerers together.",
                "learns to cast spells at a school of magic"),
    "romance": ("falls in love with a stranger met on a train",
                "A tender love story unfolds over one summer.",
                "must choose between a career and true love",
                "rekindles a romance with a childhood sweetheart"),
    "thought-provoking": ("The film raises hard questions about what makes us human.",
                          "questions the meaning of free will and fate",
                          "It leaves viewers debating its ideas long after the credits.",
                          "confronts a moral dilemma with no easy answer"),
    "social commentary": ("The story exposes the gap between rich and poor.",
                          "fights discrimination in a divided town",
                          "A sharp critique of consumer culture and inequality.",
                          "challenges the corruption of powerful institutions"),
    "violence": ("The film features brutal fights and graphic bloodshed.",
                 "seeks bloody revenge against a ruthless gang", "Savage brawls leave few characters alive.",
                 "survives a gruesome massacre"),
    "true story": ("Based on true events that made headlines.",
                   "The film recounts the real-life journey of a famous explorer.",
                   "Inspired by a remarkable true story.", "relives real events from a famous court case"),
}  # fmt: skip

MOVIE_SETTINGS = (
    "a small coastal town", "a sprawling metropolis", "a remote mountain village",
    "the deserts of the southwest", "a crowded boarding school", "a quiet suburb",
    "an island off the coast of Norway", "a rainy port city", "a run-down motel",
    "a snowbound research station", "a busy hospital", "a traveling circus",
)  # fmt: skip
MOVIE_ADJECTIVES = (
    "young", "retired", "reluctant", "ambitious", "lonely", "weary", "curious", "stubborn", "gifted",
    "restless",
)  # fmt: skip
MOVIE_ROLES = (
    "detective", "schoolteacher", "pilot", "nurse", "musician", "farmer", "journalist", "chef", "engineer",
    "soldier", "painter", "student", "librarian", "boxer", "lawyer",
)  # fmt: skip
MOVIE_LINKS = ("The {role}", "Soon the {role}", "Later the {role}", "Along the way the {role}")

# ---- lamp2n

#: The category list in the order the real LaMP-2 (news) inputs print it; the label list (specs.py) differs.
NEWS_INPUT_ORDER = (
    "women", "religion", "politics", "style & beauty", "entertainment", "culture & arts", "sports",
    "science & technology", "travel", "business", "crime", "education", "healthy living", "parents",
    "food & drink",
)  # fmt: skip

#: News category -> cue sentences (each one only ever hints at its own category).
NEWS_CUES: dict[str, tuple[str, ...]] = {
    "food & drink": ("A new ramen shop drew long lines on its opening night.",
                     "The chef shared a recipe for slow-roasted tomatoes.",
                     "Local wineries reported a strong harvest this fall.",
                     "Critics praised the bakery's sourdough and pastries."),
    "sports": ("The coach praised the defense after the playoff win.",
               "Fans packed the stadium for the season opener.",
               "The striker scored twice in the second half.",
               "The marathon drew runners from twelve countries."),
    "education": ("The school district is hiring two hundred new teachers.",
                  "Students will take the revised state exam in May.",
                  "The university expanded its scholarship program.",
                  "Classroom sizes have grown for the third year in a row."),
    "parents": ("Many parents are struggling to find affordable daycare.",
                "Pediatricians offered tips for toddler sleep schedules.",
                "A father described juggling work and bedtime routines.",
                "Moms shared advice on talking to teens about screen time."),
    "religion": ("The congregation gathered for a candlelight prayer service.",
                 "Church leaders called for unity during the holy week.",
                 "A rabbi and an imam led an interfaith dialogue.",
                 "Pilgrims arrived for the annual religious festival."),
    "travel": ("Airlines added direct flights to island destinations.",
               "Travelers can explore the old town on a walking tour.",
               "The coastal resort reopened its beachfront hotel.",
               "Backpackers swapped tips on cheap rail passes."),
    "business": ("The company's quarterly earnings beat analyst expectations.",
                 "Shares of the retailer rose after the merger news.",
                 "The startup raised forty million dollars in funding.",
                 "Small business owners worry about rising rent."),
    "crime": ("Police arrested two suspects after the armed robbery.",
              "The jury delivered a guilty verdict in the fraud trial.",
              "Detectives are investigating a string of car break-ins.",
              "The suspect was charged with assault on Monday."),
    "science & technology": ("Researchers unveiled a battery that charges in minutes.",
                             "The new smartphone update patches a security flaw.",
                             "Astronomers spotted a planet orbiting a nearby star.",
                             "Engineers tested a self-driving delivery robot."),
    "culture & arts": ("The museum opened an exhibit of contemporary sculpture.",
                       "A local poet won a national literary prize.",
                       "The orchestra premiered a new symphony.",
                       "Painters restored a historic mural downtown."),
    "entertainment": ("The actor confirmed a sequel to the hit movie.",
                      "The pop star announced a world tour.",
                      "The reality show finale drew record ratings.",
                      "Fans lined up for the celebrity's red carpet appearance."),
    "politics": ("The senator introduced a bill on campaign finance.",
                 "Voters head to the polls in a tight governor's race.",
                 "Congress debated the spending package late into the night.",
                 "The president signed an executive order on trade."),
    "women": ("Women leaders called for equal pay in the tech industry.",
              "A female founder spoke about sexism in venture capital.",
              "The event celebrated women who broke barriers in science.",
              "Activists marched for reproductive rights."),
    "style & beauty": ("Designers showed bold colors at fashion week.",
                       "The makeup artist shared a simple skincare routine.",
                       "Vintage denim is trending again this season.",
                       "The model's evening gown went viral."),
    "healthy living": ("Doctors recommend thirty minutes of daily exercise.",
                       "A nutritionist explained the benefits of more fiber.",
                       "Meditation apps may help reduce stress.",
                       "Getting enough sleep improves heart health."),
}  # fmt: skip

#: News category -> headline openers ("<opener> in <place>"), used for a random plausible category only.
NEWS_TITLES: dict[str, tuple[str, ...]] = {
    "food & drink": ("Where to eat now", "A taste of the season"),
    "sports": ("A big week for local teams", "Game day"),
    "education": ("Back to school", "Changes in the classroom"),
    "parents": ("Family life", "What parents are saying"),
    "religion": ("Faith and community", "A season of worship"),
    "travel": ("Getting away", "Weekend trips"),
    "business": ("Money matters", "The business week"),
    "crime": ("Police blotter", "Courts and crime"),
    "science & technology": ("Tech news", "New discoveries"),
    "culture & arts": ("Arts and culture", "On stage and in galleries"),
    "entertainment": ("Celebrity news", "What to watch"),
    "politics": ("Politics this week", "Inside the capitol"),
    "women": ("Women making news", "Breaking barriers"),
    "style & beauty": ("Style notes", "Beauty trends"),
    "healthy living": ("Healthy habits", "Wellness check"),
}
NEWS_INTROS = (
    "Residents of {place} had plenty to talk about this week.", "It was a busy week in {place}.",
    "Here is what people in {place} are discussing.", "News from {place} kept coming in.",
)  # fmt: skip
NEWS_OUTROS = (
    "More updates are expected soon.", "Reporters will follow the story as it develops.",
    "Readers can send tips to the newsroom.", "",
)  # fmt: skip

PLACES = (
    "Riverside", "Maple Heights", "Oakdale", "Port Ellis", "Cedar Falls", "Westbrook", "Lakeview",
    "Brighton Bay", "Granite City", "Fairhaven", "Willow Creek", "Northgate",
)  # fmt: skip

# ---- lamp1 / lamp5

#: Research topic -> methods, problems, vocabulary terms, datasets. Vocabularies are disjoint across topics.
TOPICS: dict[str, dict[str, tuple[str, ...]]] = {
    "reinforcement learning": {
        "methods": ("policy gradient agents", "model-based reinforcement learning", "offline Q-learning",
                    "actor-critic methods", "hierarchical policies", "reward shaping"),
        "problems": ("sparse-reward exploration", "multi-agent coordination", "sample-efficient control",
                     "continuous action spaces", "long-horizon planning", "robotic grasping"),
        "terms": ("reward", "policy", "value function", "exploration", "Markov decision process", "return",
                  "environment", "trajectory"),
        "datasets": ("Atari", "MuJoCo", "D4RL"),
    },
    "computer vision": {
        "methods": ("convolutional backbones", "vision transformers", "contrastive image pretraining",
                    "diffusion-based generators", "feature pyramid networks",
                    "self-supervised pixel encoders"),
        "problems": ("object detection", "semantic segmentation", "image super-resolution", "pose estimation",
                     "video action recognition", "depth estimation"),
        "terms": ("image", "pixel", "bounding box", "camera", "visual features", "convolution", "scene",
                  "frames"),
        "datasets": ("ImageNet", "COCO", "Cityscapes"),
    },
    "natural language processing": {
        "methods": ("pretrained language models", "sequence-to-sequence transformers",
                    "retrieval-augmented generation", "instruction tuning", "subword tokenizers",
                    "prompt ensembles"),
        "problems": ("machine translation", "question answering", "text summarization",
                     "named entity recognition", "dialogue generation", "sentiment analysis"),
        "terms": ("corpus", "token", "sentence", "language", "syntax", "vocabulary", "annotation",
                  "discourse"),
        "datasets": ("SQuAD", "GLUE", "WMT"),
    },
    "databases": {
        "methods": ("learned index structures", "cost-based query optimizers", "columnar storage engines",
                    "multi-version concurrency control", "adaptive join algorithms", "write-ahead logging"),
        "problems": ("query optimization", "transaction processing", "data cleaning", "schema matching",
                     "approximate query answering", "distributed joins"),
        "terms": ("query", "relational", "index", "transaction", "tuple", "SQL", "schema", "workload"),
        "datasets": ("TPC-H", "TPC-DS", "JOB"),
    },
    "networking": {
        "methods": ("software-defined networking", "congestion control algorithms", "programmable switches",
                    "network coding", "traffic engineering", "packet scheduling"),
        "problems": ("datacenter load balancing", "wireless interference", "video streaming latency",
                     "routing convergence", "network telemetry", "edge caching"),
        "terms": ("packet", "throughput", "latency", "router", "bandwidth", "protocol", "link", "TCP"),
        "datasets": ("CAIDA traces", "Mininet", "ns-3"),
    },
    "security": {
        "methods": ("homomorphic encryption", "zero-knowledge proofs", "lattice-based signatures",
                    "secure multiparty computation", "differential privacy", "fuzz testing"),
        "problems": ("private set intersection", "malware detection", "side-channel resistance",
                     "password authentication", "secure aggregation", "key exchange"),
        "terms": ("adversary", "ciphertext", "attack", "secret key", "threat model", "encryption",
                  "vulnerability", "proof"),
        "datasets": ("NIST test vectors", "CVE records", "VirusShare"),
    },
    "robotics": {
        "methods": ("model predictive control", "imitation learning from demonstrations", "visual servoing",
                    "SLAM pipelines", "compliant actuators", "sampling-based motion planning"),
        "problems": ("legged locomotion", "autonomous navigation", "dexterous manipulation", "drone swarms",
                     "human-robot collaboration", "warehouse picking"),
        "terms": ("robot", "actuator", "gripper", "odometry", "torque", "kinematics", "sensor",
                  "manipulator"),
        "datasets": ("KITTI", "YCB objects", "RoboSuite"),
    },
    "computational biology": {
        "methods": ("protein language models", "phylogenetic inference", "single-cell clustering",
                    "hidden Markov gene finders", "molecular dynamics simulation",
                    "graph neural networks on molecules"),
        "problems": ("protein structure prediction", "gene expression analysis", "drug-target interaction",
                     "variant calling", "cell type annotation", "metagenomic binning"),
        "terms": ("protein", "gene", "genome", "cell", "sequencing reads", "mutation", "enzyme",
                  "expression"),
        "datasets": ("UniProt", "PDB", "GTEx"),
    },
    "human-computer interaction": {
        "methods": ("participatory design", "eye-tracking studies", "voice interfaces", "haptic feedback",
                    "mixed-methods surveys", "augmented reality overlays"),
        "problems": ("accessibility for blind users", "technology use by older adults",
                     "online learning engagement", "notification overload", "collaborative writing",
                     "mobile text entry"),
        "terms": ("participants", "usability", "interface", "interviews", "user study", "design",
                  "interaction", "cognitive load"),
        "datasets": ("screen reader logs", "classroom deployments", "crowdsourced diaries"),
    },
    "quantum computing": {
        "methods": ("variational quantum circuits", "surface code decoders", "quantum annealing",
                    "tensor network simulation", "qubit routing", "error mitigation"),
        "problems": ("quantum chemistry simulation", "combinatorial optimization",
                     "fault-tolerant computation", "quantum state tomography", "noisy device benchmarking",
                     "quantum machine learning"),
        "terms": ("qubit", "entanglement", "gate", "Hamiltonian", "decoherence", "circuit depth", "fidelity",
                  "superposition"),
        "datasets": ("IBM Quantum devices", "random circuits", "molecular Hamiltonians"),
    },
}  # fmt: skip

#: Paper titles of a profile (lamp1). Placeholders: method, problem, term.
PAPER_TITLES = (
    "{method} for {problem}", "Improving {problem} with {method}", "Rethinking {term} in {problem}",
    "A study of {method} for {problem}", "Revisiting {term} for {problem}", "Scaling {method} to {problem}",
    "Learning {term} representations for {problem}", "When does {term} help {problem}",
)  # fmt: skip

#: Abstract sentences; an abstract takes one from each group, in order.
ABSTRACT_PARTS = (
    ("We study {problem}, where {term1} and {term2} interact in complex ways.",
     "{Problem} remains hard because {term1} is rarely observed directly.",
     "This paper addresses {problem} with a focus on {term1}."),
    ("Prior work relies on {method2} but struggles with {term2}.",
     "Existing approaches based on {method2} ignore {term2}.",
     "Most systems treat {term2} as fixed, which limits accuracy."),
    ("We propose {method} for {problem} that models {term3} explicitly.",
     "We propose {method} for {problem}, built around {term3}.",
     "Our approach applies {method} to {problem} and learns {term3} end to end."),
    ("Experiments on {dataset} show gains of {n} points over strong baselines.",
     "On {dataset} it improves over prior methods by {n} points.",
     "Results on {dataset} confirm a {n} percent improvement."),
)  # fmt: skip

#: lamp5 title signatures: adjectives put before the method, or phrases put after the title's core.
PAPER_PREFIXES = ("efficient", "scalable", "robust", "simple", "principled", "lightweight")
PAPER_SUFFIXES = ("revisited", "in the wild", "at scale", "made practical")

# ---- lamp4

#: News topic -> section name, subjects (text, is_plural) and actions (3rd-person verb, base verb, objects).
NEWS_TOPICS: dict[str, dict[str, tuple]] = {
    "local government": {
        "section": ("Local politics",),
        "subjects": (("the city council", False), ("the mayor", False), ("county officials", True)),
        "actions": (("approves", "approve", ("new bike lanes", "a property tax increase",
                                             "a ban on plastic bags")),
                    ("delays", "delay", ("a vote on rent control", "the downtown transit plan",
                                         "library renovations")),
                    ("rejects", "reject", ("a proposal for a new stadium",
                                           "a plan to close two fire stations"))),
    },
    "business": {
        "section": ("Business",),
        "subjects": (("a regional airline", False), ("the tech startup", False), ("local grocers", True)),
        "actions": (("expands", "expand", ("its delivery service", "into three new cities")),
                    ("cuts", "cut", ("200 jobs", "prices on basic goods", "its store hours")),
                    ("opens", "open", ("a new headquarters", "its first overseas office"))),
    },
    "environment": {
        "section": ("Environment",),
        "subjects": (("state park rangers", True), ("volunteers", True), ("the water district", False)),
        "actions": (("restores", "restore", ("a polluted wetland", "hiking trails after the floods")),
                    ("closes", "close", ("mountain roads ahead of the storm", "two beaches over algae")),
                    ("plants", "plant", ("ten thousand trees", "a pollinator garden"))),
    },
    "health": {
        "section": ("Health",),
        "subjects": (("hospital officials", True), ("the health department", False), ("local clinics", True)),
        "actions": (("launches", "launch", ("a free vaccine clinic", "a mental health hotline")),
                    ("warns of", "warn of", ("a rise in flu cases", "heat-related illness")),
                    ("expands", "expand", ("weekend hours", "care for rural patients"))),
    },
    "education": {
        "section": ("Education",),
        "subjects": (("the university", False), ("the teachers' union", False),
                      ("high school students", True)),
        "actions": (("announces", "announce", ("a tuition freeze", "a new computer science program")),
                    ("protests", "protest", ("larger class sizes", "cuts to arts funding")),
                    ("wins", "win", ("a national robotics contest", "a grant for reading tutors"))),
    },
    "sports": {
        "section": ("Sports",),
        "subjects": (("the home team", False), ("the star quarterback", False), ("local runners", True)),
        "actions": (("wins", "win", ("the regional championship", "a thrilling overtime game")),
                    ("signs", "sign", ("a three-year contract", "with a rival club")),
                    ("breaks", "break", ("a decades-old record", "a five-game losing streak"))),
    },
    "science": {
        "section": ("Science",),
        "subjects": (("NASA engineers", True), ("a university lab", False), ("amateur astronomers", True)),
        "actions": (("unveils", "unveil", ("a solar-powered drone", "a faster battery design")),
                    ("tests", "test", ("a lunar rover prototype", "an early warning system for quakes")),
                    ("spots", "spot", ("a comet visible to the naked eye", "a rare deep-sea fish"))),
    },
    "arts": {
        "section": ("Arts",),
        "subjects": (("the city museum", False), ("a local theater", False), ("festival organizers", True)),
        "actions": (("hosts", "host", ("a free summer concert series", "an exhibit on immigrant history")),
                    ("cancels", "cancel", ("the annual jazz festival", "its winter season")),
                    ("restores", "restore", ("a century-old mural", "the historic opera house"))),
    },
}  # fmt: skip

NEWS_LEDES = (
    "{Subject} {is} set to {vbase} {object} {place_phrase}, {reason}.",
    "In a decision announced {day}, {subject} will {vbase} {object} {place_phrase}.",
    "{Subject} moved on {day} to {vbase} {object} {place_phrase}, {reason}.",
)  # fmt: skip
NEWS_REASONS = (
    "citing rising costs", "after months of public debate", "following complaints from residents",
    "in response to growing demand", "despite objections from critics",
)  # fmt: skip
NEWS_FILLERS = (
    "Residents reacted with a mix of hope and concern.",
    "A spokesperson said more details would follow next week.",
    "The change is expected to take effect in the spring.", "Critics argue the plan moves too fast.",
    "Supporters called it a long overdue step.", "Officials did not say how much it would cost.",
)  # fmt: skip
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")

#: lamp4 headline signatures: a tag before the headline, or a tag after it.
HEADLINE_PREFIXES = ("Breaking", "Exclusive", "Watch", "Update")
HEADLINE_SUFFIXES = ("(photos)", "| analysis", "— what to know")

# ---- lamp7

TWEET_TEMPLATES = (
    "Just {act} and now {fol}.", "Finally {act} this {part} and {fol}.", "I {act} {when} and {fol}.",
    "Cannot believe I {act} {when} and {fol}.", "Well, I {act} {when} and {fol}.",
    "Guess who {act} this {part}? Me, and {fol}.",
)  # fmt: skip
TWEET_ACTS = (
    "finished my morning run", "cleaned the whole apartment", "watched the new season of that show",
    "baked banana bread", "got my car fixed", "booked tickets for the concert", "passed my driving test",
    "tried the new taco place downtown", "started reading a new book", "fixed the leaky kitchen sink",
    "finished a huge work project", "adopted a puppy", "planted tomatoes in the garden",
    "went to the beach with friends", "beat my personal record at the gym", "painted the bedroom walls",
    "learned to make fresh pasta", "signed up for a pottery class", "finally replied to all my emails",
    "hiked to the top of the hill", "rearranged my bookshelf", "saw my favorite band live",
    "ran into an old friend at the store", "cooked dinner for the whole family",
)  # fmt: skip
TWEET_FOLLOWS = (
    "I really need a nap", "you are all invited to celebrate", "the weekend cannot come soon enough",
    "I am going to treat myself to pizza", "my legs are done for the day", "I want to do it all again",
    "the coffee is calling my name", "I am so proud of myself", "it feels like a fresh start",
    "I am ready for bed", "your recommendations are welcome", "the neighbors are really jealous",
    "nobody can stop me now", "you should really try it too", "my cat is judging me",
    "tomorrow is going to be even better", "I deserve a snack", "the playlist was perfect",
)  # fmt: skip
TWEET_PARTS = ("morning", "afternoon", "weekend", "evening")
TWEET_WHENS = ("today", "yesterday", "this morning", "last night")

#: Word-level shortcuts an "abbreviating" user takes.
TWEET_ABBREVIATIONS = {
    "you": "u", "your": "ur", "are": "r", "and": "&", "really": "rly", "cannot": "cant", "because": "bc",
}  # fmt: skip
TWEET_OPENERS = ("ngl", "honestly", "ok so", "tbh", "lowkey", "omg")
TWEET_CLOSERS = ("lol", "fr", "smh", "haha", "no cap", "yay")
TWEET_HASHTAGS = ("#blessed", "#mondaymood", "#coffeetime", "#grind", "#nofilter", "#goals", "#weekendvibes")
TWEET_EMOJIS = (
    "\U0001f602",
    "\U0001f525",
    "\u2728",
    "\U0001f64f",
    "\U0001f62d",
    "\U0001f60e",
    "\u2764\ufe0f",
)
TWEET_ENDINGS = (".", "!!!", "...", "", "!!")
