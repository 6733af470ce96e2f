"""The fake direct identifiers of synthetic patients: names, MRNs, phones, e-mails, SSNs and ZIPs.

Why nobody real is in them is told in :mod:`nbmlops.demo.datasets`. Each function takes numpy as
``np`` (the caller imported it) and ``draw``, the caller's per-variable random streams.
"""

from __future__ import annotations

from typing import Any

__all__ = ["REGIONS", "identifiers", "zip_codes"]

# Embedded name lists (no download); surnames roughly by US frequency, which the draw weights.
_FEMALE = """Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy
Betty Sandra Margaret Ashley Kimberly Emily Donna Michelle Carol Amanda Melissa Deborah Stephanie
Dorothy Rebecca Sharon Laura Cynthia Amy Kathleen Angela Shirley Brenda Emma Anna Pamela Nicole
Samantha Katherine Christine Helen Debra Rachel Carolyn Janet Maria Catherine Heather Diane
Olivia Julie Joyce Victoria Ruth Virginia Lauren Kelly Christina Joan Evelyn Judith Andrea Hannah
Megan Cheryl Martha Jacqueline Madison Teresa Gloria Sara Janice Ann Kathryn Abigail Sophia
Frances Jean Alice Judy Grace Isabella Julia Amber Denise Danielle Marilyn Beverly Charlotte
Natalie Theresa Diana Brittany Doris Kayla Alexis Lori Marie Guadalupe Rosa Carmen Ana Lucia
Sofia Valentina Ximena Mei Priya Aisha Fatima Keisha Latoya Tamika Ebony Imani Aaliyah Yolanda
Mariana Camila Daniela Leilani Nadia Yasmin Hoa Minji Yuki Aiko Ngozi Amara Chioma Ingrid Siobhan
Bridget Colleen Winona Kiana Noelani Esperanza Dolores Beatriz Gabriela Renee Tanisha Jasmine
Destiny Zoe Chloe Lily Ava Mia Harper Nora Hazel Ruby Naomi"""
_MALE = """James Robert John Michael David William Richard Joseph Thomas Christopher Charles Daniel
Matthew Anthony Mark Donald Steven Andrew Paul Joshua Kenneth Kevin Brian George Timothy Ronald
Jason Edward Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon
Benjamin Samuel Gregory Alexander Patrick Frank Raymond Jack Dennis Jerry Tyler Aaron Jose Adam
Nathan Henry Zachary Douglas Peter Kyle Noah Ethan Jeremy Walter Christian Keith Roger Terry
Austin Sean Gerald Carl Harold Dylan Arthur Lawrence Jordan Jesse Bryan Billy Bruce Gabriel Joe
Logan Alan Juan Albert Willie Elijah Wayne Randy Vincent Mason Roy Ralph Bobby Russell Bradley
Philip Eugene Carlos Luis Miguel Jorge Alejandro Diego Javier Mateo Santiago Rafael Hector Ramon
Jesus Wei Jun Hiroshi Kenji Raj Arjun Vikram Sanjay Mohammed Ahmed Omar Hassan Ali Kwame Kofi
Chinedu Emeka Tyrone DeShawn Jamal Darnell Marcus Malik Andre Terrence Cedric Reginald Minh Duc
Tuan Hyun Lars Sven Liam Declan Connor Kai Keoni Hunter Wyatt Caleb Owen Isaac Levi Eli Ezra
Abraham Dmitri Ivan Sergei Pavel Tomasz Jakub"""
_SURNAMES = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez
Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris
Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill
Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans
Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez
Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks
Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers
Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson
Barnes Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin
Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray
Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas
Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez
Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose
Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto
Weaver Ryan Gardner Payne Grant Dunn Wang Hawkins Arnold Pierce Hansen Peters Santos Hart Bradley
Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Delgado
Berry Perkins Hoffman Johnston Matthews Pena Liu Contreras Willis Carpenter Sandoval Zhang Huang
Singh Shah Kumar Khan Yamamoto Tanaka Sato Park Choi Pham Vu Okafor Adeyemi Mensah Begay Yazzie
Kahale Cohen Levy Kowalski Novak Ivanov Lindqvist"""

# First three ZIP digits by state ("MA 010-027 7.0" = prefixes 010..027, 7.0 M people), grouped
# by Census region. The 17 prefixes Safe Harbor must blank (< 20,000 people) are over-drawn on
# purpose, _SPARSE_SHARE of all rows, so that de-identification has work even at 5,000 rows.
_ZIP3 = {
    "northeast": "MA 010-027 7.0, RI 028-029 1.1, NH 030-038 1.4, ME 039-049 1.4, VT 050-059 0.6, "
    "CT 060-069 3.6, NJ 070-089 9.3, NY 100-149 20.2, PA 150-196 13.0",
    "midwest": "OH 430-458 11.8, IN 460-479 6.8, MI 480-499 10.1, IA 500-528 3.2, WI 530-549 5.9, "
    "MN 550-567 5.7, SD 570-577 0.9, ND 580-588 0.8, IL 600-629 12.8, MO 630-658 6.2, "
    "KS 660-679 2.9, NE 680-693 2.0",
    "south": "DE 197-199 1.0, DC 200-205 0.7, MD 206-219 6.2, VA 220-246 8.6, WV 247-268 1.8, "
    "NC 270-289 10.4, SC 290-299 5.1, GA 300-319 10.7, FL 320-349 21.5, AL 350-369 5.0, "
    "TN 370-385 6.9, MS 386-397 3.0, KY 400-427 4.5, LA 700-714 4.7, AR 716-729 3.0, "
    "OK 730-749 4.0, TX 750-799 29.1",
    "west": "MT 590-599 1.1, CO 800-816 5.8, WY 820-831 0.6, ID 832-838 1.8, UT 840-847 3.3, "
    "AZ 850-865 7.2, NM 870-884 2.1, NV 889-898 3.1, CA 900-961 39.5, HI 967-968 1.5, "
    "OR 970-979 4.2, WA 980-994 7.7, AK 995-999 0.7",
}
_SPARSE_ZIP3 = (36, 59, 63, 102, 203, 556, 692, 790, 821, 823, 830, 831, 878, 879, 884, 890, 893)
_SPARSE_SHARE = 0.01
_AREA_CODES = (  # phones are not tied to the ZIP: nothing downstream should pair them
    "212 617 215 412 201 518 312 313 414 612 314 816 402 216 317 515 404 305 713 214 704 615 "
    "504 502 205 501 405 803 410 202 213 415 619 206 503 303 602 702 505 801 907 808 406 307"
)
_PHONE_FORMS = "({a}) 555-01{n:02d}|{a}-555-01{n:02d}|{a}.555.01{n:02d}|+1 {a} 555 01{n:02d}"

REGIONS = tuple(_ZIP3)
"""The Census regions, in the order of the region codes :func:`zip_codes` gives."""


def zip_codes(np: Any, draw: Any, n: int) -> tuple[Any, Any]:
    """Region codes and 5-digit ZIPs: a state by population, then a prefix uniform within it."""
    low: list[int] = []
    high: list[int] = []
    people: list[float] = []
    region_of = np.full(1000, -1)
    for region, states in enumerate(_ZIP3.values()):
        for state in states.split(", "):
            prefixes, millions = state.split()[1:]
            first, last = (int(p) for p in prefixes.split("-"))
            low.append(first)
            high.append(last)
            people.append(float(millions))
            region_of[first : last + 1] = region
    state_of = draw("state").choice(len(low), n, p=np.array(people) / sum(people))
    width = (np.array(high) - np.array(low) + 1)[state_of]
    zip3 = np.array(low)[state_of] + (draw("zip3").random(n) * width).astype(np.int64)
    sparse = np.array(_SPARSE_ZIP3)[draw("sparse_zip3").integers(0, len(_SPARSE_ZIP3), n)]
    zip3 = np.where(draw("sparse").random(n) < _SPARSE_SHARE, sparse, zip3)
    zip5 = zip3 * 100 + draw("zip_last2").integers(0, 100, n)
    return region_of[zip3], _text(np, _digits(np, zip5, 5))


def identifiers(np: Any, draw: Any, n: int, female: Any) -> dict[str, Any]:
    """Names, MRNs, phones, e-mails and SSNs, never formatted row by row: repeating values are
    built once per distinct value and picked, unique ones are laid out from digit arrays."""
    n_female, firsts = len(_FEMALE.split()), np.array((_FEMALE + " " + _MALE).split())
    lasts = np.array(_SURNAMES.split())
    weight = 1 / (np.arange(len(lasts)) + 20.0)  # the lists are in rough order of frequency
    last = draw("last").choice(len(lasts), n, p=weight / weight.sum())
    male = draw("first_m").integers(n_female, len(firsts), n)
    pair = np.where(female, draw("first_f").integers(0, n_female, n), male) * len(lasts) + last
    add, lower = np.char.add, np.char.lower
    names = add(add(firsts[:, None], " "), lasts[None, :]).ravel().astype(object)

    first_l, initial, last_l = (
        lower(firsts)[:, None],
        lower(firsts.astype("U1"))[:, None],
        lower(lasts),
    )
    forms = [add(add(first_l, "."), last_l), add(initial, last_l), add(add(first_l, "_"), last_l)]
    local = np.stack(forms, axis=-1).ravel()
    numbered = np.array(["", *(str(k) for k in range(1, 100))])[:, None]
    suffixes = add(numbered, np.array(["@example.com", "@example.org", "@example.net"])).ravel()
    number = np.where(draw("email_n").random(n) < 0.4, draw("email_n").integers(1, 100, n), 0)
    suffix = number * 3 + draw("email_domain").integers(0, 3, n)
    email = add(local[pair * 3 + draw("email_form").integers(0, 3, n)], suffixes[suffix])

    forms = _PHONE_FORMS.split("|")
    phones = np.array(
        [f.format(a=a, n=k) for a in _AREA_CODES.split() for k in range(100) for f in forms]
    )
    phone = draw("phone").integers(0, len(phones) // 4, n) * 4
    phone += draw("phone_form").choice(4, n, p=[0.55, 0.3, 0.1, 0.05])

    mrn = draw("mrn").choice(10**8, n, replace=False)
    groups, serials = 49, 9999  # groups 01-49: ITINs (also 9xx) use only 50-65, 70-88, 90-99
    ssn = draw("ssn").choice(100 * groups * serials, n, replace=False)
    area, group, serial = (
        900 + ssn // (groups * serials),
        1 + ssn // serials % groups,
        1 + ssn % serials,
    )
    return {
        "patient_name": names[pair],
        "mrn": _text(np, "MRN", _digits(np, mrn, 8)),
        "phone": phones.astype(object)[phone],
        "email": email.astype(object),
        "ssn": _text(
            np, _digits(np, area, 3), "-", _digits(np, group, 2), "-", _digits(np, serial, 4)
        ),
    }


def _digits(np: Any, values: Any, width: int) -> Any:
    """Zero-padded decimal digits of non-negative ints, as a (rows, width) array of code points."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers % 10 + ord("0")).astype(np.uint32)


def _text(np: Any, *parts: Any) -> Any:
    """Fixed-width strings from literals and code-point blocks, as an ``object`` array: the blocks
    are laid side by side and read as numpy ``U`` strings, ~5x faster than ``astype(str)``."""
    n = next(len(part) for part in parts if not isinstance(part, str))
    blocks = [
        np.broadcast_to(np.array([ord(c) for c in part], np.uint32), (n, len(part)))
        if isinstance(part, str)
        else part
        for part in parts
    ]
    codes = np.ascontiguousarray(np.concatenate(blocks, axis=1))
    return codes.view(f"U{codes.shape[1]}")[:, 0].astype(object)
