# ensure: create a file with a generated name, note it in world/.applied once
# it exists (the side effect is done), pause for $pause seconds, then print
# the name: the applied state peace records, and the only way it can know it.
f=$(mktemp "world/$PEACE_ITEM_ID-XXXXXX") || exit 1
echo "$f" >>world/.applied
echo "$PEACE_ITEM_ID ensure $f" >>world/.trail
if [ "$pause" != 0 ]; then
	sleep "$pause"
fi
echo "$f"
