# ensure: create a file with a generated name, note it in world/.applied once
# it exists (the side effect is done), pause for $pause seconds, then
# write the name to $PEACE_STATE_OUT: the applied state peace records, and the only
# way it can know it.
f=$(mktemp "world/$PEACE_ITEM_ID-XXXXXX") || exit 1
echo "$f" >>world/.applied
echo "$PEACE_ITEM_ID ensure $f" >>world/.trail
if [ "$pause" != 0 ]; then
	sleep "$pause"
fi
echo "$f" >"$PEACE_STATE_OUT"
