"""Fixed pseudonym lists for person names: common given names and surnames from many countries.

Fixed in code, not configurable, so a token never changes when a deployment's config does. ASCII
only, so a pseudonym fits any client encoding. Appending is safe only at the end of a list and
still changes the picks (the index is taken modulo the length): treat the lists as frozen.
"""

from __future__ import annotations

__all__ = ["ANY_NAMES", "FIRST_NAMES", "LAST_NAMES"]

FIRST_NAMES: tuple[str, ...] = tuple(
    """
    James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara
    Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony
    Betty Mark Margaret Donald Sandra Steven Ashley Paul Kimberly Andrew Emily Joshua Donna
    Kenneth Michelle Kevin Carol Brian Amanda George Melissa Edward Deborah Ronald Stephanie
    Timothy Rebecca Jason Laura Jeffrey Sharon Ryan Cynthia Jacob Kathleen Gary Amy Nicholas
    Shirley Eric Angela Jonathan Helen Stephen Anna Larry Brenda Justin Pamela Scott Nicole
    Brandon Samantha Benjamin Katherine Samuel Emma Gregory Ruth Frank Christine Alexander
    Catherine Raymond Debra Patrick Rachel Jack Carolyn Dennis Janet Jerry Virginia Tyler Maria
    Aaron Heather Jose Diane Adam Julie Henry Joyce Nathan Victoria Douglas Kelly Zachary Christina
    Peter Lauren Kyle Joan Walter Evelyn Ethan Olivia Jeremy Judith Harold Megan Keith Cheryl
    Christian Martha Roger Andrea Noah Frances Gerald Hannah Carl Jacqueline Terry Ann Sean Gloria
    Austin Jean Arthur Kathryn Lawrence Alice Jesse Teresa Dylan Sara Bryan Janice Joe Doris
    Jordan Madison Billy Julia Bruce Grace Albert Judy Willie Abigail Gabriel Marie Logan Denise
    Alan Beverly Juan Amber Wayne Theresa Roy Marilyn Ralph Danielle Randy Diana Eugene Brittany
    Vincent Natalie Russell Sophia Elijah Rose Louis Isabella Bobby Alexis Philip Kayla Johnny
    Charlotte Lucas Mateo Sofia Liam Mia Hugo Lea Lukas Elena Jan Ingrid Sven Astrid Pierre Chloe
    Luca Giulia Marco Chiara Pablo Lucia Diego Carmen Tomasz Zofia Piotr Agnieszka Mehmet Ayse
    Ahmed Fatima Omar Leila Ravi Priya Arjun Ananya Wei Mei Hiroshi Yuki Kenji Haruka Minjun Jiwoo
    Kwame Amara Tunde Chioma Joao Beatriz Mikhail Olga Ivan Natasha Erik Freya Niko Aino
    """.split()  # noqa: SIM905  (a word list reads better as prose than as 270 literals)
)

LAST_NAMES: tuple[str, ...] = tuple(
    """
    Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
    Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris
    Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill
    Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips
    Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers
    Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson
    Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo
    Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell
    Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson
    Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera
    Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez
    McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns
    Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt
    Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer
    Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant
    Dunn Kelley Spencer Hawkins Arnold Pierce Hansen Peters Santos Hart Bradley Knight Elliott
    Mueller Schneider Fischer Weber Becker Schulz Hoffmann Dubois Moreau Laurent Bernard Rossi
    Russo Ferrari Esposito Bianchi Romano Novak Kowalski Nowak Wisniewski Jansen Visser Bakker
    Larsen Nielsen Johansson Andersson Virtanen Korhonen Yilmaz Kaya Demir Sato Suzuki Takahashi
    Tanaka Watanabe Wang Zhang Liu Yang Huang Singh Kumar Sharma Gupta Park Choi Okafor Mensah
    Oliveira Costa Pereira Ivanov Petrov Popescu Horvat Dvorak Papadopoulos Byrne Walsh
    """.split()  # noqa: SIM905  (a word list reads better as prose than as 270 literals)
)

ANY_NAMES: tuple[str, ...] = tuple(dict.fromkeys(FIRST_NAMES + LAST_NAMES))
