"""The default named places of each default city: the markets, stations and landmarks people name when
they call a moto-taxi. Coordinates are approximate (a few tens of metres): a driver is guided to the
place, and the rider walks the last steps. Replace or extend them with ``places`` in ``SIKA_CITIES``.
"""

from __future__ import annotations

from sika.rides.places import Place

__all__ = ["DEFAULT_PLACES"]


def _places(*rows: tuple[str, str, float, float, tuple[str, ...]]) -> list[Place]:
    return [Place(id=id_, name=name, lat=lat, lng=lng, aliases=aliases)
            for id_, name, lat, lng, aliases in rows]


DEFAULT_PLACES: dict[str, list[Place]] = {
    "lome": _places(
        ("grand-marche", "Grand Marché", 6.1306, 1.2214, ("Marché d'Assigamé",)),
        ("assigame", "Assigamé", 6.1321, 1.2246, ()),
        ("gare-tokoin", "Gare de Tokoin", 6.1531, 1.2168, ("Tokoin Gare",)),
        ("universite", "Université de Lomé", 6.1738, 1.2131, ("UL", "Campus")),
        ("port", "Port autonome", 6.1381, 1.2869, ("PAL", "Port de Lomé")),
        ("aeroport", "Aéroport", 6.1656, 1.2545, ("Aéroport Gnassingbé Eyadéma",)),
        ("be", "Bè", 6.1459, 1.2431, ("Marché de Bè", "Bè Kpota")),
        ("agoe", "Agoè", 6.2351, 1.2119, ("Agoè-Nyivé", "Agoè Assiyéyé")),
        ("hedzranawoe", "Hédzranawoé", 6.1641, 1.2398, ("Marché d'Hédzranawoé",)),
        ("deckon", "Déckon", 6.1304, 1.2281, ("Carrefour Déckon",)),
        ("kodjoviakope", "Kodjoviakopé", 6.1265, 1.2051, ()),
        ("nyekonakpoe", "Nyékonakpoè", 6.1301, 1.2099, ()),
        ("chu-tokoin", "CHU Sylvanus Olympio", 6.1372, 1.2121, ("Hôpital de Tokoin", "CHU Tokoin")),
        ("agbalepedo", "Gare d'Agbalépédo", 6.1989, 1.2091, ("Gare routière", "Agbalépédo")),
        ("adidogome", "Adidogomé", 6.1801, 1.1651, ("Marché d'Adidogomé",)),
        ("kegue", "Stade de Kégué", 6.1879, 1.2628, ("Kégué",)),
        ("avedji", "Avédji", 6.1951, 1.2049, ()),
        ("adakpame", "Adakpamé", 6.1802, 1.2851, ()),
        ("baguida", "Baguida", 6.1501, 1.3299, ()),
        ("cathedrale", "Cathédrale du Sacré-Cœur", 6.1289, 1.2181, ("Cathédrale",)),
        ("hotel-2-fevrier", "Hôtel du 2 Février", 6.1262, 1.2182, ("2 Février",)),
        ("frontiere-aflao", "Frontière d'Aflao", 6.1161, 1.1941, ("Aflao", "Border")),
    ),
    "kara": _places(
        ("grand-marche", "Grand Marché", 9.5511, 1.1861, ("Marché de Kara",)),
        ("gare-routiere", "Gare routière", 9.5471, 1.1879, ()),
        ("universite", "Université de Kara", 9.5721, 1.1941, ("UK", "Campus")),
        ("chu", "CHU de Kara", 9.5431, 1.1791, ("Hôpital",)),
        ("tomde", "Tomdè", 9.5799, 1.1701, ()),
    ),
    "cotonou": _places(
        ("dantokpa", "Marché Dantokpa", 6.3701, 2.4331, ("Dantokpa", "Tokpa")),
        ("aeroport", "Aéroport", 6.3571, 2.3841, ("Aéroport Cardinal Bernardin Gantin",)),
        ("etoile-rouge", "Étoile Rouge", 6.3731, 2.4001, ()),
        ("cadjehoun", "Cadjèhoun", 6.3581, 2.3949, ()),
        ("fidjrosse", "Fidjrossè Plage", 6.3491, 2.3701, ("Fidjrossè",)),
        ("ganhi", "Ganhi", 6.3541, 2.4349, ()),
        ("stade-amitie", "Stade de l'Amitié", 6.3851, 2.4001, ()),
    ),
    "ouagadougou": _places(
        ("rood-woko", "Grand Marché Rood Woko", 12.3681, -1.5229, ("Rood Woko", "Grand Marché")),
        ("aeroport", "Aéroport", 12.3531, -1.5121, ()),
        ("universite", "Université Joseph Ki-Zerbo", 12.3771, -1.4989, ("Université de Ouagadougou",)),
        ("nations-unies", "Place des Nations Unies", 12.3701, -1.5199, ()),
        ("ouaga-2000", "Ouaga 2000", 12.3151, -1.4951, ()),
    ),
    "bamako": _places(
        ("grand-marche", "Grand Marché", 12.6501, -7.9989, ("Marché rose",)),
        ("aci-2000", "ACI 2000", 12.6281, -8.0299, ()),
        ("sogoniko", "Gare de Sogoniko", 12.6011, -7.9701, ("Sogoniko",)),
        ("pont-martyrs", "Pont des Martyrs", 12.6331, -7.9961, ()),
        ("medina-coura", "Médina Coura", 12.6561, -7.9879, ()),
    ),
}
