"""Names for demo data: Welsh and English, as the MIS of a Welsh school holds them.

Surnames are repeated by how common they are (Jones, Davies, Williams ...),
so usernames collide and get numbers as they do in real schools (A-2).
"""

FORENAMES = (
    "Aled", "Alys", "Angharad", "Anwen", "Arwel", "Bethan", "Bryn", "Carys", "Catrin", "Cerys",
    "Ceri", "Dafydd", "Deiniol", "Dylan", "Efa", "Elen", "Elin", "Emrys", "Ffion", "Gethin",
    "Glesni", "Gruffudd", "Gwen", "Gwenllïan", "Gwion", "Heledd", "Huw", "Iestyn", "Ifan", "Ioan",
    "Llŷr", "Lowri", "Mabli", "Macsen", "Manon", "Math", "Megan", "Meinir", "Mererid", "Nia",
    "Osian", "Rhodri", "Rhys", "Sioned", "Siôn", "Steffan", "Tomos", "Twm", "Elliw", "Wyn",
    "Gwilym", "Hywel", "Non", "Tesni", "Caio", "Nel", "Begw", "Deio", "Cai", "Ŵyn",
    "Olivia", "Oliver", "Amelia", "Jack", "Isla", "Harry", "Ava", "George", "Mia", "Noah",
    "Chloë", "Zoë", "Seán", "Aoife", "Zofia", "Jakub", "Amir", "Priya", "José", "Kwame",
    "Sophie", "Thomas", "Emily", "James", "Grace", "Charlie", "Ruby", "Alfie", "Evie", "Leo",
)
SURNAMES = (
    *["Jones"] * 14, *["Davies"] * 10, *["Williams"] * 9, *["Evans"] * 7, *["Thomas"] * 6,
    *["Roberts"] * 5, *["Hughes"] * 4, *["Lewis"] * 4, *["Morgan"] * 3, *["Griffiths"] * 3,
    "Owen", "Owen", "Price", "Price", "Rees", "Rees", "Jenkins", "Pritchard", "Parry", "Lloyd",
    "Edwards", "Pugh", "Vaughan", "Howells", "Powell", "Bowen", "Harries", "Watkins", "Jarvis", "Probert",
    "ap Rhys", "ap Gwilym", "ab Owain", "ap Dafydd", "Ellis-Jones", "Wyn-Williams", "Llŵyd", "Prŷs",
    "Siôn", "Tŷ-Gwyn", "Ŵyn", "O'Brien", "O'Neill", "Smith", "Taylor", "Brown", "Wilson", "Nowak",
    "Kowalski", "de la Cruz", "van der Berg", "MacDonald", "Müller", "Ní Bhriain", "Ahmed", "Khan", "Patel",
)
PLACES = (
    "Aberdyfi", "Abererch", "Bethel", "Bodedern", "Bontnewydd", "Brynaman", "Brynrefail", "Caergeiliog",
    "Cwm Gwendraeth", "Cwmtawe", "Dinas Mawddwy", "Dolgellau", "Felinheli", "Ffestiniog", "Garndolbenmaen",
    "Glan Conwy", "Glantaf", "Gwaun Cae Gurwen", "Llanberis", "Llandegfan", "Llanfairpwll", "Llangennech",
    "Llanrug", "Llanystumdwy", "Maesincla", "Nefyn", "Pen-y-groes", "Penrhyndeudraeth", "Pontardawe",
    "Porthmadog", "Pwllheli", "Rhydaman", "Rhosgadfan", "Talysarn", "Trefriw", "Tregaron", "Tywyn",
    "Waunfawr", "Y Bont Faen", "Y Fenni", "Ystalyfera", "Ystrad Mynach", "Bryn Coch", "Glan y Môr",
    "Eryri", "Y Wern", "Tŷ Bach", "Pen y Bryn", "Cae Top", "Hafod Lon", "Bro Idris", "Bro Hyddgen",
)
STAFF_ROLES = ("Teacher", "Teacher", "Teacher", "Teaching assistant", "HLTA", "Administrator")
